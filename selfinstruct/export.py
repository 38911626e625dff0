"""`selfinstruct export RUN --format ...`: the accepted tasks in the formats people load.

One row per instance (a task with three instances gives three rows), with its provenance:
task id, instance index, round, parent task ids, teacher, is_classification, and the filter
scores as a JSON string (a fixed schema, whatever scores a run has). Formats:

  hf           a folder: the train split saved by datasets   (load_dataset(folder) or load_from_disk)
               and README.md, its dataset card (card.py)
  parquet      one Parquet file                            (load_dataset("parquet", ...))
  alpaca       JSON array of {instruction, input, output, ...provenance}
  sharegpt     JSON array of {conversations: [{from: human}, {from: gpt}, ...], ...provenance}
  openai-chat  JSONL of {messages: [user, assistant, ...], metadata: {...provenance}}

A conversation (multi_turn) is one row: its later turns are in `turns` ({role, content} list; empty for
a one-turn task, and left out of an Alpaca record then), and the chat formats carry every turn.

The chat formats put the input under the instruction, as formats.chat_messages does for
training, so an exported conversation is exactly what the student was trained on.
Nothing from the config is in the data, and a teacher name that is a local path is shortened; the hf
folder's card (and the one pushed) shows the config as the report does, credentials redacted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .card import HUB_FILES, dataset_card
from .formats import chat_messages
from .records import Instance
from .report.load import RunData, load_run, safe_text
from .rundir import EXPORT_FILES, RunDir, RunError, print_damaged
from .store import write_atomic

FORMATS = tuple(EXPORT_FILES)  # each format's default file in the run is the run folder's to name
PROVENANCE = ("id", "instance", "round", "parents", "teacher", "strategy", "evolution", "is_classification", "scores")
console = Console(stderr=True)


class ExportError(RunError):
    """A RunError, so the CLI prints it as one red line."""


def rows(run: RunData) -> list[dict[str, Any]]:
    out = []
    for t in run.accepted:
        for k, inst in enumerate(t.instances):
            out.append(
                {
                    "id": t.id,
                    "instance": k,
                    "instruction": t.instruction,
                    "input": inst.input,
                    "output": inst.output,
                    "round": t.round,
                    "parents": [str(p) for p in t.parents],
                    "teacher": safe_text(t.teacher, run.path),
                    "strategy": t.strategy,
                    "evolution": t.evolution,
                    "is_classification": t.is_classification,
                    "scores": json.dumps(t.scores, sort_keys=True),
                    "turns": [dict(m) for m in t.turns] if k == 0 else [],
                }
            )
    return out


def features():
    import datasets as ds

    return ds.Features(
        {
            "id": ds.Value("string"),
            "instance": ds.Value("int32"),
            "instruction": ds.Value("string"),
            "input": ds.Value("string"),
            "output": ds.Value("string"),
            "round": ds.Value("int32"),
            "parents": ds.List(ds.Value("string")),
            "teacher": ds.Value("string"),
            "strategy": ds.Value("string"),
            "evolution": ds.Value("string"),
            "is_classification": ds.Value("bool"),
            "scores": ds.Value("string"),
            "turns": ds.List({"role": ds.Value("string"), "content": ds.Value("string")}),
        }
    )


def to_dataset(data: list[dict[str, Any]]):
    import datasets

    return datasets.Dataset.from_list(data, features=features())


def _provenance(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in PROVENANCE}


def _conversation(r: dict[str, Any]) -> list[dict[str, str]]:
    return chat_messages(r["instruction"], Instance(r["input"], r["output"])) + [dict(m) for m in r["turns"]]


def alpaca(r: dict[str, Any]) -> dict[str, Any]:
    turns = {"turns": r["turns"]} if r["turns"] else {}  # an Alpaca record has no place for them: kept beside
    return {"instruction": r["instruction"], "input": r["input"], "output": r["output"], **_provenance(r), **turns}


SHAREGPT_FROM = {"user": "human", "assistant": "gpt"}


def sharegpt(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "conversations": [{"from": SHAREGPT_FROM[m["role"]], "value": m["content"]} for m in _conversation(r)],
        **_provenance(r),
    }


def openai_chat(r: dict[str, Any]) -> dict[str, Any]:
    return {"messages": _conversation(r), "metadata": _provenance(r)}


def _save_hf(data: list[dict[str, Any]], path: Path, card: str) -> None:
    """Saved beside, then swapped in, so a failed export never leaves half a dataset. A DatasetDict
    with one split, not a bare Dataset: load_dataset refuses a folder with state.json at its top,
    and the card's configs point it at train/. dataset_info.json on top is an older export."""
    if (
        path.exists()
        and any(path.iterdir())
        and not any((path / f).exists() for f in ("dataset_dict.json", "dataset_info.json"))
    ):
        raise ExportError(f"{path}: exists and is not a saved dataset; refusing to overwrite it")

    def save(tmp: Path) -> None:
        import datasets

        datasets.DatasetDict({"train": to_dataset(data)}).save_to_disk(str(tmp))
        (tmp / "README.md").write_text(card, encoding="utf-8")

    write_atomic(path, save)


def write(data: list[dict[str, Any]], fmt: str, path: Path, card: str = "") -> None:
    if fmt == "hf":
        _save_hf(data, path, card)
    elif fmt == "parquet":
        write_atomic(path, lambda tmp: to_dataset(data).to_parquet(str(tmp)))
    elif fmt == "alpaca":
        write_atomic(path, json.dumps([alpaca(r) for r in data], ensure_ascii=False, indent=1))
    elif fmt == "sharegpt":
        write_atomic(path, json.dumps([sharegpt(r) for r in data], ensure_ascii=False, indent=1))
    elif fmt == "openai-chat":
        write_atomic(path, "".join(json.dumps(openai_chat(r), ensure_ascii=False) + "\n" for r in data))


def hub_token(repo: str) -> str:
    """Checked before anything is written, so a push that cannot happen fails at once."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        raise ExportError(f"--push-to-hub {repo}: no Hugging Face token; set HF_TOKEN (a write token) and retry")
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise ExportError(f"--push-to-hub {repo}: HF_HUB_OFFLINE is set; unset it to push")
    return token


def push(data: list[dict[str, Any]], repo: str, token: str, card: str) -> None:
    """Pushes as a private dataset: generated data is never published by accident. The card goes
    first: push_to_hub then adds its size and features to the card's metadata and keeps the rest."""
    try:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo, repo_type="dataset", private=True, exist_ok=True)
        api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo, repo_type="dataset")
        to_dataset(data).push_to_hub(repo, token=token, private=True)
    except Exception as e:  # network, auth, repo name: whatever it is, one line, and never the token
        raise ExportError(f"--push-to-hub {repo} failed: {str(e).replace(token, '[token]')}") from None


def export_run(
    run: str | Path, fmt: str, out: Path | None = None, push_to_hub: str | None = None, partial: bool = False
) -> Path:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    token = hub_token(push_to_hub) if push_to_hub else ""
    live = RunDir.reader(run).live_writer()
    if live and not partial:
        raise ExportError(
            f"{run}: generate is still working on this run (pid {live}); export it when it "
            "finishes, or pass --partial to export the rounds finished so far"
        )
    data_run = load_run(run)
    print_damaged(data_run.damaged)
    data = rows(data_run)
    if not data:
        raise ExportError(f"{run}: no accepted tasks with instances to export yet")
    path = Path(out) if out else RunDir.reader(data_run.path).export_path(fmt)
    write(data, fmt, path, dataset_card(data_run, data) if fmt == "hf" else "")
    if push_to_hub:
        push(data, push_to_hub, token, dataset_card(data_run, data, HUB_FILES, load_as=push_to_hub))
    summary(data_run, data, fmt, path, push_to_hub)
    if live:
        done = [r.n for r in data_run.rounds if r.done]
        console.print(
            f"[yellow]partial export:[/] generate is still working on this run (pid {live}); "
            f"exported the rounds finished so far ({', '.join(map(str, done)) or 'none'})",
            highlight=False,
        )
    return path


def summary(run: RunData, data: list[dict[str, Any]], fmt: str, path: Path, repo: str | None) -> None:
    t = Table(title=f"export {escape(run.name)} -> {fmt}")  # a run's name is user text, not markup
    for col in ("round", "tasks", "rows", "classification"):
        t.add_column(col, justify="right")
    for r in sorted({d["round"] for d in data}):
        mine = [d for d in data if d["round"] == r]
        cls = sum(1 for d in mine if d["is_classification"])
        t.add_row(str(r), str(len({d["id"] for d in mine})), str(len(mine)), f"{cls / len(mine):.0%}")
    t.add_row("all", str(len({d["id"] for d in data})), str(len(data)), "", style="bold")
    console.print(t)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    full, root = path.resolve(), run.path.resolve()
    where = full.relative_to(root) if full.is_relative_to(root) else path
    console.print(
        f"wrote {len(data)} rows ({size / 1e6:.2f} MB) to {where}" + (f"; pushed to {repo}" if repo else ""),
        markup=False,
    )
