"""The `transformers` backend: local generate(), batched with left padding, for machines without vLLM.

Requests are grouped by their sampling settings (one generate() call serves one setting), then
batched. Sampling uses temperature/top_p (greedy at temperature 0), seeded per batch from the
run seed and the batch's request ids, so a relaunch gives the same answers. Stop strings end
generation and are cut from the text, as vLLM and OpenAI do.

A request may name a peft adapter of the model (Request.adapter: a trained student). Each is
loaded once, unmerged, beside the others; a batch is answered with its adapter active, or with
every adapter off for a request that names none. Unmerged, as eval loaded its students, so a
student answers here exactly as eval always scored it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..config import TeacherConfig
from ..models import ModelError, load_model, load_tokenizer, pick_device
from .base import Completion, Request
from .common import model_label, require, truncate_at_stop
from .registry import register


@register("transformers")
class TransformersTeacher:
    adapters = True

    def __init__(self, cfg: TeacherConfig, seed: int = 0):
        require("transformers", "pip install transformers")
        opts = cfg.transformers
        self.cfg, self.seed = cfg, seed
        self.name = "transformers:" + model_label(cfg.model)
        self.device = pick_device(opts.device)
        self.tok = load_tokenizer(cfg.model)
        self.tok.padding_side = "left"  # the answer starts right after every prompt of a batch
        self.model = load_model(cfg.model, self.device, opts.dtype).eval()
        self._adapters: dict[str, str] = {}  # adapter folder -> its name in the peft model
        self._stop_ids = {
            i for i in [self.tok.pad_token_id, *_as_list(self.model.generation_config.eos_token_id)] if i is not None
        }

    def complete(self, requests: list[Request]) -> list[Completion]:
        out: dict[int, Completion] = {}
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.adapter, r.temperature, r.top_p, r.max_tokens, tuple(r.stop)), []).append(i)
        size = self.cfg.transformers.batch_size
        for idx in groups.values():
            for start in range(0, len(idx), size):
                batch = idx[start : start + size]
                for i, c in zip(batch, self._generate([requests[i] for i in batch])):
                    out[i] = c
        return [out[i] for i in range(len(requests))]

    def _text(self, req: Request) -> str:
        if req.prompt is not None:
            return req.prompt
        if not self.tok.chat_template:
            raise ModelError(f"{self.name}: the model has no chat template; use teacher.prompt_style: completion")
        return self.tok.apply_chat_template(req.messages, tokenize=False, add_generation_prompt=True)

    def _generate(self, batch: list[Request]) -> list[Completion]:
        import torch

        first = batch[0]
        # The chat template already holds the special tokens; plain prompts get the model's usual ones.
        special = first.prompt is not None
        enc = self.tok(
            [self._text(r) for r in batch], return_tensors="pt", padding=True, add_special_tokens=special
        ).to(self.device)
        kwargs: dict[str, Any] = {"max_new_tokens": first.max_tokens, "pad_token_id": self.tok.pad_token_id}
        if first.temperature > 0:
            kwargs.update(do_sample=True, temperature=first.temperature, top_p=first.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if first.stop:
            kwargs.update(stop_strings=list(first.stop), tokenizer=self.tok)
        if self.cfg.ignore_eos:
            kwargs["min_new_tokens"] = first.max_tokens
        torch.manual_seed(self._batch_seed(batch))
        with torch.inference_mode(), self._active(first.adapter):
            ids = self.model.generate(**enc, **kwargs)
        new = ids[:, enc["input_ids"].shape[1] :].tolist()
        prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()
        return [self._completion(r, row, p) for r, row, p in zip(batch, new, prompt_tokens)]

    def _completion(self, req: Request, row: list[int], prompt_tokens: int) -> Completion:
        # Generation of a row ends at its first EOS (finished rows are padded after it).
        n = next((k for k, t in enumerate(row) if t in self._stop_ids), len(row))
        if self.cfg.ignore_eos:
            n = len(row)
        text, stopped = truncate_at_stop(self.tok.decode(row[:n], skip_special_tokens=True), req.stop)
        finish = "stop" if stopped or n < req.max_tokens else "length"
        return Completion(
            request_id=req.id, text=text, finish_reason=finish, prompt_tokens=int(prompt_tokens), completion_tokens=n
        )

    @contextmanager
    def _active(self, adapter: str | None) -> Iterator[None]:
        """The model as `adapter` answers: that adapter on, or (None) the plain model."""
        if adapter is None and not self._adapters:
            yield
        elif adapter is None:
            with self.model.disable_adapter():
                yield
        else:
            name = self._load(adapter)  # first: loading the first adapter makes self.model a peft model
            self.model.set_adapter(name)
            yield

    def _load(self, adapter: str) -> str:
        if adapter not in self._adapters:
            require("peft", "pip install peft")
            from peft import PeftModel

            name = f"a{len(self._adapters)}"
            try:
                if self._adapters:
                    self.model.load_adapter(adapter, adapter_name=name)
                else:
                    self.model = PeftModel.from_pretrained(self.model, adapter, adapter_name=name)
            except (OSError, ValueError) as e:
                raise ModelError(f"{adapter}: cannot load the peft adapter ({e})") from None
            self.model = self.model.to(self.device).eval()
            self._adapters[adapter] = name
        return self._adapters[adapter]

    def _batch_seed(self, batch: list[Request]) -> int:
        key = f"{self.seed}:" + ",".join(r.id for r in batch)
        return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)

    def close(self) -> None:
        self.model = None  # frees the weights once the caller drops the teacher

    def __enter__(self) -> TransformersTeacher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _as_list(x: Any) -> list:
    return x if isinstance(x, list) else [x]
