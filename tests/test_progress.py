"""The round's progress where stderr is a log file, not a terminal: one plain line per teacher chunk,
as it happens, instead of bars drawn only when the round ends."""

from __future__ import annotations

from selfinstruct.generate.progress import StepProgress
from selfinstruct.teachers.base import Completion


def test_each_chunk_is_a_line_in_a_log(capsys):
    outs = [Completion(f"r{i}", "text", "stop", 10, 25) for i in range(2)]
    with StepProgress("round 2", status=lambda: {"in_flight": 3}) as progress:
        progress.start("instances", 5, "batch 1 instances [a]")
        progress.update("instances", outs, 2.0)
        during = capsys.readouterr().err  # before the bars are drawn at the end
        progress.update("instances", outs[:1], 0.5)
    assert during.splitlines() == ["round 2 batch 1 instances [a]: 2/5 requests, 25 tok/s, 2 s in_flight=3"]
    assert "3/5 requests, 30 tok/s, 2 s" in capsys.readouterr().err  # 75 tokens in 2.5 s
    progress.update("classify", outs, 1.0)  # a step with no bar: nothing, no error
