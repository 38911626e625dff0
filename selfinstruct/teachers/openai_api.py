"""The `openai` backend: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, a hosted API).

Prompt requests go to /v1/completions, chat requests to /v1/chat/completions. Requests run
concurrently, spread over one or several base URLs, as many at once as an AIMD limit allows
(aimd.py: the vLLM server has no admission control, so the client must cap the load): halved on
429, 503 or a timeout, grown by one after a window of successes, up to `max_in_flight`.
Connection errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter; other
4xx are not. Every attempt has a hard deadline, so nothing hangs.

Fan-out over several base URLs (several `vllm serve` instances): each attempt goes to the live
endpoint with the fewest requests in flight. An endpoint that fails (connection refused or
reset, timeout, 5xx) is out of rotation for a cool-down that doubles on each failure in a row,
and the failed request is retried at once on another one. After the cool-down the endpoint is
on probation: one request at a time until one succeeds, then it is back in full rotation.
When every endpoint is down, the one back soonest is tried (backoff applies as usual). An answer
that fails for good, or cannot be parsed, comes back as finish_reason "error" with the reason:
reported, never kept as text.

The API key is read from the environment variable named in the config at start and only ever
sent in the Authorization header: it is not in the config, the name, errors, or logs.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..config import TeacherConfig
from ..models import ModelError, resolve_model
from .aimd import AdaptiveLimit
from .base import Completion, Request
from .common import model_label, request_seed, require
from .registry import register


class Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None, failover: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.failover = failover  # another endpoint is live: retry there now, no backoff


class Unanswerable(Exception):
    """A request the server refused (4xx) or answered with something unusable: not retried."""


@register("openai")
class OpenAITeacher:
    # A server serves an adapter as a model of its own name (vllm serve --lora-modules NAME=PATH):
    # there is no folder to send, so a request naming one is refused.
    adapters = False

    def __init__(self, cfg: TeacherConfig, seed: int = 0):
        require("httpx", "pip install httpx")
        require("tenacity", "pip install tenacity")
        self.cfg, self.opts, self.seed = cfg, cfg.openai, seed
        if not self.opts.base_urls:
            raise ValueError("teacher.openai.base_urls is empty: name at least one server")
        self.urls = [u.rstrip("/") for u in self.opts.base_urls]
        self.model = self.opts.served_model or resolve_model(cfg.model)
        self.name = "openai:" + model_label(cfg.model)
        self._key = os.environ.get(self.opts.api_key_env) or None
        self._in_flight = [0] * len(self.urls)
        self._turn = itertools.count()
        self._fails = [0] * len(self.urls)  # failures in a row, per endpoint
        self._down_until = [0.0] * len(self.urls)  # time.monotonic() when its cool-down ends
        self.attempts = 0  # HTTP requests sent, retries included
        self.answered = [0] * len(self.urls)  # 2xx answers per endpoint
        self.failures = [0] * len(self.urls)  # failed attempts per endpoint (endpoint faults only)
        # One limit for all endpoints, kept across calls: each chunk starts where the last one settled.
        self.limiter = AdaptiveLimit(self.opts.max_in_flight, self.opts.min_in_flight, self.opts.adaptive, self.name)

    def __repr__(self) -> str:
        return f"OpenAITeacher({self.name!r}, urls={self.urls!r})"  # never the key

    def complete(self, requests: list[Request]) -> list[Completion]:
        if not requests:
            return []
        named = next((r.adapter for r in requests if r.adapter), None)
        if named:
            raise ModelError(
                f"{self.name}: a request names the LoRA adapter {named}, which a server cannot be "
                "sent; serve it as a model of its own (vllm serve --lora-modules NAME=PATH) and name "
                "it in teacher.openai.served_model"
            )
        return _run_sync(self._complete_all(requests))

    def status(self) -> dict[str, int]:
        """What the progress line shows while a step runs (read from rich's refresh thread)."""
        return {"in_flight": self.limiter.limit}

    def close(self) -> None:
        pass  # clients live for one call: nothing stays open between calls

    def __enter__(self) -> OpenAITeacher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def _complete_all(self, requests: list[Request]) -> list[Completion]:
        import httpx

        n = self.opts.max_in_flight
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=self.opts.timeout_s) as client:
            return list(await asyncio.gather(*(self._one(client, r) for r in requests)))

    async def _one(self, client: Any, req: Request) -> Completion:
        try:
            data = await self._post_with_retries(client, req)
            return self._parse(req, data)
        except Retryable as e:
            return _error(req, self._redact(f"gave up after {self.opts.max_retries + 1} attempts: {e}"))
        except Unanswerable as e:
            return _error(req, self._redact(str(e)))

    async def _post_with_retries(self, client: Any, req: Request) -> Any:
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

        backoff = wait_exponential_jitter(
            multiplier=self.opts.backoff_s, max=self.opts.backoff_max_s, jitter=self.opts.backoff_s
        )

        def wait(state: Any) -> float:
            # A server's Retry-After is honoured, within the configured ceiling.
            exc = state.outcome.exception()
            if getattr(exc, "failover", False):
                return 0.0
            after = getattr(exc, "retry_after", None) or 0.0
            return min(max(backoff(state), after), self.opts.backoff_max_s)

        path, body = self._body(req)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.opts.max_retries + 1),
            wait=wait,
            retry=retry_if_exception_type(Retryable),
            reraise=True,
        ):
            with attempt:
                return await self._post(client, path, body)

    def _live(self, i: int, now: float) -> bool:
        # Past its cool-down, a failed endpoint takes one request at a time (a probe) until one succeeds.
        return self._down_until[i] <= now and (self._fails[i] == 0 or self._in_flight[i] == 0)

    def _pick(self) -> int:
        turn, now = next(self._turn), time.monotonic()
        order = [(turn + k) % len(self.urls) for k in range(len(self.urls))]
        live = [i for i in order if self._live(i, now)]
        if not live:
            return min(order, key=lambda i: self._down_until[i])
        if self.opts.balance == "round_robin":
            return live[0]
        # Least in flight; ties go round-robin so idle servers all get work.
        return min(live, key=lambda i: self._in_flight[i])

    def _failed(self, i: int) -> bool:
        """Takes endpoint i out of rotation; True when another endpoint is live to retry on."""
        self.failures[i] += 1
        self._fails[i] += 1
        cool = min(self.opts.cooldown_s * 2 ** (self._fails[i] - 1), self.opts.cooldown_max_s)
        now = time.monotonic()
        self._down_until[i] = now + cool
        return any(self._live(j, now) for j in range(len(self.urls)) if j != i)

    async def _post(self, client: Any, path: str, body: dict[str, Any]) -> Any:
        # A slot per attempt, not per request: a request waiting out its backoff holds none.
        epoch = await self.limiter.acquire()
        try:
            return await self._attempt(client, path, body, epoch)
        finally:
            self.limiter.release()

    async def _attempt(self, client: Any, path: str, body: dict[str, Any], epoch: int) -> Any:
        import httpx

        i = self._pick()
        url = self.urls[i] + path
        self._in_flight[i] += 1
        self.attempts += 1
        busy = ""  # the server's sign that it is overloaded: fewer requests in flight
        try:
            # httpx's timeout is per read; wait_for bounds the whole attempt (a trickling server too).
            resp = await asyncio.wait_for(client.post(url, json=body), self.opts.timeout_s)
        except asyncio.TimeoutError:
            why, busy = f"{url}: no answer within {self.opts.timeout_s:g} s", "a timeout"
        except httpx.TransportError as e:
            why, busy = f"{url}: {type(e).__name__}: {e}", "a timeout" if isinstance(e, httpx.TimeoutException) else ""
        else:
            why = f"{url}: HTTP {resp.status_code}: {_snippet(resp.text)}" if resp.status_code >= 500 else ""
            busy = f"HTTP {resp.status_code}" if resp.status_code in (429, 503) else ""
        finally:
            self._in_flight[i] -= 1
        if busy:
            self.limiter.throttled_by(epoch, f"{url}: {busy}")
        if why:  # the endpoint's fault: out of rotation, retried elsewhere without waiting
            raise Retryable(why, failover=self._failed(i))
        code = resp.status_code
        if code == 429:  # busy, not broken: stays in rotation
            raise Retryable(f"{url}: HTTP {code}: {_snippet(resp.text)}", _retry_after(resp))
        self._fails[i] = 0  # it answered: back in full rotation
        if code >= 300:
            raise Unanswerable(f"{url}: HTTP {code} (not retried): {_snippet(resp.text)}")
        self.answered[i] += 1
        self.limiter.succeeded()
        try:
            return resp.json()
        except ValueError:
            raise Unanswerable(f"{url}: malformed JSON in the answer: {_snippet(resp.text)}") from None

    def _body(self, req: Request) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "seed": request_seed(req, self.seed),
            "n": 1,
        }
        if req.stop:
            body["stop"] = list(req.stop)
        if self.cfg.ignore_eos:
            body["ignore_eos"] = True  # a vLLM/SGLang extension; only sent when asked for
        body.update(self.opts.extra_body)
        if req.prompt is not None:
            return "/completions", {**body, "prompt": req.prompt}
        return "/chat/completions", {**body, "messages": req.messages}

    def _parse(self, req: Request, data: Any) -> Completion:
        try:
            choice = data["choices"][0]
            text = choice["text"] if req.prompt is not None else choice["message"]["content"]
            if not isinstance(text, str):
                raise TypeError(f"the answer text is {type(text).__name__}, not a string")
            finish = choice.get("finish_reason") or "stop"
            usage = data.get("usage") or {}
            p_tok, c_tok = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
            return _error(req, self._redact(f"unparsable answer ({type(e).__name__}: {e}): {_snippet(str(data))}"))
        if finish not in ("stop", "length"):
            return _error(req, f"the server finished with {finish!r}", text, p_tok, c_tok)
        return Completion(
            request_id=req.id, text=text, finish_reason=finish, prompt_tokens=p_tok, completion_tokens=c_tok
        )

    def _redact(self, message: str) -> str:
        # A server may echo our headers back in an error page.
        return message.replace(self._key, "***") if self._key else message


def _error(req: Request, message: str, text: str = "", p_tok: int = 0, c_tok: int = 0) -> Completion:
    return Completion(
        request_id=req.id, text=text, finish_reason="error", prompt_tokens=p_tok, completion_tokens=c_tok, error=message
    )


def _snippet(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


def _retry_after(resp: Any) -> float | None:
    try:
        return float(resp.headers.get("retry-after", ""))
    except ValueError:
        return None


def _run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Runs `coro` to the end; in a thread of its own when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
