"""Saves the real teacher answers of a run as parser fixtures.

    python tests/helpers/fixtures_from_run.py runs/NAME tests/fixtures/teacher_outputs_NAME.jsonl

Each line: {"step", "text", "finish_reason", "teacher"}; instances steps say whether the task was
output-first (classification), read from the classify answers' verdicts at the time.
"""

import json
import sys
from pathlib import Path

from selfinstruct.generate.parse import parse_is_classification
from selfinstruct.store import ChunkStore

run, out = Path(sys.argv[1]), Path(sys.argv[2])
rows = []
for rd in sorted(run.glob("round-*")):
    verdict = {
        r["meta"].get("task"): bool(parse_is_classification(r["text"])) for r in ChunkStore(rd / "classify.jsonl")
    }
    teacher = json.loads((run / "manifest.json").read_text()).get("name", "")
    for step in ("propose", "classify", "instances"):
        for r in ChunkStore(rd / f"{step}.jsonl"):
            name = step
            if step == "instances" and verdict.get(r["meta"].get("task")):
                name = "instances_output_first"
            rows.append({"step": name, "text": r["text"], "finish_reason": r["finish_reason"], "run": teacher})
out.write_text("".join(json.dumps(r) + "\n" for r in rows))
print(f"{len(rows)} fixtures -> {out}")
