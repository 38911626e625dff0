"""The verify step of a round: prove a task's output right where a program can, after the filter.

For each task that survived the filter (kinds.py says which verifier fits):
- code: the teacher writes assert tests for the code in the output; the sandbox runs code + tests.
  An output with no runnable code, or code that fails its tests, is `failed_execution(...)`.
- compute: the teacher writes a program that computes the answer; the sandbox runs it and its
  printed value must agree with the output. With `repair` on, a wrong output is replaced by the
  program's value (program-aided, as PAL: a coder model computes better in code than in its head)
  and the record keeps the teacher's own output in checks["teacher_output"]; otherwise
  `wrong_value(expected=...)`.
- any kind: a constraint the instruction states ("in under 50 words", "in all capital letters"), or one
  the engine attached (checks["specs"], the constrained strategy), is checked with the IFEval checkers
  (stated.py); an output that breaks it is `constraint_unmet(...)`. An open task whose attached
  constraint is kept counts as verified: its answer did what it was told, in the part a program can see.
- open, or a check that could not run (no tests written, a program that computes nothing or
  crashes): kept, rejected as `unverified(...)`, or (`agree`) answered a second time and kept only
  where the two answers agree (agree.py), else `disagree(...)`, as filter.verify.unverified says.
Every outcome is written to task.checks. Requests are greedy and built from (run seed, round,
task id), so a relaunch finds them answered in the store and asks nothing twice.
"""

from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..config import VerifyConfig
from ..constraints import attached, own_words
from ..generate.prompts import seed_for
from ..prompting import make_request, render
from ..records import Instance, Reject, Task
from ..sandbox import Limits, run_python
from ..store import ChunkStore
from . import stated
from .agree import agreement
from .kinds import agrees, computes, kind_of, printed_value, python_code, repaired


def verify_tasks(
    ctx, tasks: list[Task], store: ChunkStore, agree_store: ChunkStore | None = None
) -> tuple[list[Task], list[Task]]:
    """-> (kept, rejected with their reason). Kept tasks are new records where an output was repaired."""
    vcfg = ctx.cfg.filter.verify
    todo = [t for t in tasks if "kind" not in t.checks and t.instances]  # carried tasks were verified before
    comps = _ask(ctx, todo, store)
    limits = Limits(cpu_s=vcfg.cpu_s, wall_s=vcfg.wall_s, memory_mb=vcfg.memory_mb)
    with ThreadPoolExecutor(max(1, vcfg.workers)) as pool:
        checked = dict(zip([t.id for t in todo], pool.map(lambda t: _check(t, comps.get(t.id), vcfg, limits), todo)))
    if vcfg.unverified == "agree":
        if agree_store is None:
            raise ValueError("filter.verify.unverified: agree needs a store for the second answers")
        _agree(ctx, checked, agree_store)
    kept: list[Task] = []
    rejected: list[Task] = []
    for task in tasks:
        task = checked.get(task.id, task)
        why = verdict(task.checks, vcfg)
        if why is not None:
            task.reject = why
        (rejected if why else kept).append(task)
        ctx.counts["verify_" + task.checks.get("kind", "none")] += 1
        ctx.counts["repaired"] += "repaired" in task.checks.get("computation", "")
    return kept, rejected


def _agree(ctx, checked: dict[str, Task], store: ChunkStore) -> None:
    """Second answers for the tasks no program proved (their verdict so far: unverified)."""
    unproven = [t for t in checked.values() if (why := verdict(t.checks, None)) and why.kind == "unverified"]
    found = agreement(ctx, unproven, store)
    for task in unproven:
        task.checks["agreement"] = found[task.id]


def _ask(ctx, tasks: list[Task], store: ChunkStore) -> dict[str, str]:
    """One teacher call for the round's tests and programs -> {task id: completion text}."""
    vcfg, g = ctx.cfg.filter.verify, ctx.cfg.generate
    requests = []
    for t in tasks:
        inst = t.instances[0]
        kind = _kind(t)
        code = python_code(inst.output) if kind == "code" else None
        if kind == "compute" or code:
            text = render(
                g.templates,
                "verify_tests" if code else "verify_program",
                "chat",
                instruction=t.instruction,
                input=inst.input,
                code=code or "",
            )
            requests.append(
                make_request(
                    text,
                    "chat",
                    max_tokens=vcfg.max_tokens,
                    temperature=0.0,
                    top_p=1.0,
                    seed=seed_for(ctx.cfg.run.seed, ctx.round, "verify", t.id),
                    meta={"task": t.id, "kind": kind, "strategy": t.strategy},
                )
            )
    if not requests:
        return {}
    return {c.meta.get("task"): c.text for c in ctx.run("verify", requests, store) if c.finish_reason == "stop"}


def _check(task: Task, answer: str | None, vcfg: VerifyConfig, limits: Limits) -> Task:
    """The task as a new record with its checks (and its output repaired, where that is on)."""
    inst = task.instances[0]
    kind = _kind(task)
    checks = {**task.checks, "kind": kind}
    output = inst.output
    if kind == "code":
        checks["execution"] = _run_tests(inst, answer, limits)
    elif kind == "compute":
        outcome, value = _run_program(inst, answer, limits)
        if outcome == "wrong" and vcfg.repair:
            output = repaired(inst.output, value)
            checks.update(
                computation=f"repaired: {_short(inst.output)} -> {_short(output)}", teacher_output=inst.output
            )
        else:
            checks["computation"] = f"{outcome}: {value}" if value else outcome
    constraints = stated.outcome(task.instruction, output, attached(task.checks))
    if constraints:
        checks["constraints"] = constraints
    instances = [Instance(inst.input, output), *task.instances[1:]]
    return replace(
        task,
        instances=instances,
        id="" if output != inst.output else task.id,
        checks=checks,
        scores=dict(task.scores),
        parents=list(task.parents),
        reject=None,
    )


def _kind(task: Task) -> str:
    """kind_of the task as its teacher wrote it: a constraint the engine attached ("Use less than 3
    sentences") is not what the task asks for, and its number must not make a poem a computation."""
    inst = task.instances[0]
    return kind_of(own_words(task.instruction, task.checks), inst.input, inst.output, task.is_classification)


def _run_tests(inst: Instance, answer: str | None, limits: Limits) -> str:
    code = python_code(inst.output)
    if not code:
        return "failed: no runnable Python code in the output"
    tests = python_code(answer or "")
    asserts = sum(isinstance(n, ast.Assert) for n in ast.walk(ast.parse(tests))) if tests else 0
    if not asserts:
        return "unverified: the teacher wrote no tests"
    result = run_python(f"{code}\n\n{tests}\n", stdin=inst.input, limits=limits)
    return f"passed {asserts} tests" if result.ok else f"failed: {result.why()}"


def _run_program(inst: Instance, answer: str | None, limits: Limits) -> tuple[str, str]:
    """-> (agrees | wrong | unverified: why, the program's value)."""
    program = python_code(answer or "")
    if not program or not computes(program):
        return "unverified: no program that computes the answer", ""
    given = f"data = {inst.input!r}\n" if inst.input else ""  # the input as the prompt promised it
    result = run_python(given + program, stdin=inst.input, limits=limits)
    value = printed_value(result.stdout)
    if not result.ok or not value:
        return f"unverified: the program {'printed nothing' if result.ok else 'failed: ' + result.why()}", ""
    if len(value) > 300:
        return "unverified: the program's answer is too long to compare", ""
    return ("agrees" if agrees(inst.output, value) else "wrong"), value


def _short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def verdict(checks: dict[str, str], vcfg: VerifyConfig | None) -> Reject | None:
    """A task's checks -> its reject, or None to keep it (vcfg None: as if unverified tasks were rejected)."""
    execution, computation = checks.get("execution", ""), checks.get("computation", "")
    if execution.startswith("failed"):
        return Reject("failed_execution", execution.removeprefix("failed: "))
    if computation.startswith("wrong"):
        return Reject("wrong_value", "expected=" + computation.removeprefix("wrong: "))
    if checks.get("constraints", "").startswith("unmet"):
        return Reject("constraint_unmet", checks["constraints"].removeprefix("unmet: "))
    agreement = checks.get("agreement", "")
    if agreement.startswith("disagrees"):
        return Reject("disagree", agreement.removeprefix("disagrees").strip(" ()"))
    verified = (
        execution.startswith("passed")
        or computation.startswith(("agrees", "repaired"))
        or agreement.startswith("agrees")
        # an open task the engine gave a constraint (strategies/constrained.py), its answer keeping it
        or (checks.get("kind") == "open" and "specs" in checks and checks.get("constraints", "").startswith("met"))
    )
    if not verified and (vcfg is None or vcfg.unverified != "keep"):
        return Reject(
            "unverified",
            checks.get("kind", "open")
            if checks.get("kind") == "open"
            else (execution or computation).removeprefix("unverified: "),
        )
    return None
