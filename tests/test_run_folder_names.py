"""The run folder names its own files: no module but rundir.py and round_dir.py spells a file or folder of
a run in its code (docstrings may describe the layout). A command that needs one asks RunDir, a Round,
an EvalDir or an AuditDir for it, so the layout changes in one place."""

from __future__ import annotations

import ast
from pathlib import Path

from selfinstruct.rundir import EXPORT_FILES, AuditDir, EvalDir, RunDir

PACKAGE = Path(__file__).resolve().parent.parent / "selfinstruct"
OWNERS = {"rundir.py", "round_dir.py"}
FILES = [
    "manifest.json",
    "heldout.jsonl",
    "heldout-verifiable.jsonl",
    "stats.json",
    "metrics.json",
    "labels.jsonl",
    "index.html",
    "eval.json",
    "eval.md",
    "answers-",
    "verifiable-",
    "judge-",
    "requests.jsonl",
    "verdicts.jsonl",
    "audit.json",
    "agree.jsonl",
    *(f for f in EXPORT_FILES.values() if "." in f),
]  # not "hf": a format too
FOLDERS = {"eval", "audit", "review", "report", "export", "embeddings", "student"}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            found.add(id(first.value))
    return found


def _spells(text: str, name: str) -> bool:
    """`text` is the name, or a path (or the start of an f-string) ending in it: not "<output>.stats.json"."""
    return any(
        t == name or t.endswith("/" + name) or (name.endswith("-") and t.startswith(name))
        for t in (text, text.rstrip("{"))
    )


def _in_cache(node: ast.AST) -> bool:
    """cache_dir() / "eval": the user's cache (models.py), not a run folder."""
    return isinstance(node, ast.Call) and getattr(node.func, "id", "") == "cache_dir"


def _names_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs, hits = _docstrings(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            hits += [f"{path.name}:{node.lineno}: {name!r}" for name in FILES if _spells(node.value, name)]
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Div)
            and isinstance(node.right, ast.Constant)
            and node.right.value in FOLDERS
            and not _in_cache(node.left)
        ):
            hits.append(f"{path.name}:{node.lineno}: / {node.right.value!r}")
    return hits


def test_no_module_but_the_run_folders_own_names_a_run_file():
    hits = [h for p in sorted(PACKAGE.rglob("*.py")) if p.name not in OWNERS for h in _names_in(p)]
    assert not hits, "run-folder names outside rundir.py/round_dir.py:\n" + "\n".join(hits)


def test_the_check_finds_a_name_where_one_is_spelled(tmp_path):
    spelled = tmp_path / "spelled.py"
    spelled.write_text('"""A docstring may say audit.json."""\nout = run.path / "report"\nx = f"{d}/eval.json"\n')
    assert sorted(_names_in(spelled)) == ["spelled.py:2: / 'report'", "spelled.py:3: 'eval.json'"]


def test_every_name_comes_from_the_owners():
    run = RunDir.reader("runs/x")
    out, audit = run.eval, run.audit
    assert isinstance(out, EvalDir) and isinstance(audit, AuditDir)
    assert [out.table.name, out.page.name, out.answers("round-1").name, out.judge("base").name] == [
        "eval.json",
        "eval.md",
        "answers-round-1.jsonl",
        "judge-base.jsonl",
    ]
    assert [audit.requests.name, audit.verdicts.name, audit.summary.name] == [
        "requests.jsonl",
        "verdicts.jsonl",
        "audit.json",
    ]
    assert run.report_page == Path("runs/x/report/index.html") and run.export_path("alpaca") == Path(
        "runs/x/export/alpaca.json"
    )
    assert EvalDir.beside("data/held.jsonl").path == Path("data/held.eval")
