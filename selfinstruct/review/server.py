"""The review server: the standard library's ThreadingHTTPServer, bound to 127.0.0.1 only.

GET /              the page (page.py), with this server's token in it
GET /api/tasks     the tasks to review and the labels saved so far
GET /api/labels    the labels saved so far (a tab refreshes them when it gets the focus)
POST /api/label    {"id": ..., "fields": {"output_ok": false}}: sets only the fields named, returns the record

A request whose Host is not this server's own address is refused (a DNS-rebinding page cannot read
the tasks), and a POST needs the token of the page this server served (another site cannot label).
"""

from __future__ import annotations

import getpass
import json
import random
import secrets
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from ..records import Task
from ..rundir import RunDir, RunError
from .page import CSP, page
from .store import LabelStore

MAX_BODY = 64 * 1024


def _record(task: Task, accepted: bool) -> dict[str, Any]:
    """What the labels file keeps of a task: the fields of docs/*-hand-labels.jsonl and where it went.
    Its first instance is the one judged, as the audit judges it."""
    inst = task.instances[0] if task.instances else None
    return {
        "id": task.id,
        "round": task.round,
        "instruction": task.instruction,
        "input": inst.input if inst else "",
        "output": inst.output if inst else "",
        "is_classification": task.is_classification,
        "accepted": accepted,
        "reject_kind": task.reject.kind if task.reject else None,
    }


def _sample_rejected(tasks: list[Task], n: int, seed: int) -> list[Task]:
    """n of a round's rejected tasks, the same n every time: one of each reject kind first."""
    pool = sorted({t.id: t for t in tasks}.values(), key=lambda t: t.id)
    random.Random(seed).shuffle(pool)
    seen: set[str] = set()
    first: list[Task] = []
    rest: list[Task] = []
    for t in pool:
        kind = t.reject.kind if t.reject else ""
        (rest if kind in seen else first).append(t)
        seen.add(kind)
    return (first + rest)[:n]


def review_tasks(run: RunDir, rejected: int) -> list[dict[str, Any]]:
    """Round by round: every accepted task, then `rejected` sampled rejected ones, as the page shows them."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in run.rounds():
        picked = [(t, True) for t in r.tasks("accepted")]
        picked += [(t, False) for t in _sample_rejected(r.tasks("rejected"), rejected, r.n)] if rejected > 0 else []
        for t, ok in picked:
            if t.id in seen:
                continue
            seen.add(t.id)
            out.append(
                {
                    **_record(t, ok),
                    "reject_reason": t.reject_reason,
                    "strategy": t.strategy,
                    "instances": [{"input": i.input, "output": i.output} for i in t.instances],
                    "checks": t.checks,
                    "scores": t.scores,
                }
            )
    return out


class ReviewApp:
    def __init__(self, run_path: str | Path, annotator: str = "", rejected: int = 10):
        self.run = RunDir.reader(run_path)
        if not self.run.path.is_dir():
            raise RunError(f"{self.run.path}: no such run directory")
        self.tasks = review_tasks(self.run, rejected)
        self.by_id = {t["id"]: t for t in self.tasks}
        self.store = LabelStore(self.run.review_labels, self.run.review_lock)
        self.store.read()  # a damaged labels file stops the command here, naming its line
        self.annotator = annotator or getpass.getuser()
        self.token = secrets.token_urlsafe(24)

    def label(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self.by_id.get(body.get("id"))
        fields = body.get("fields")
        if task is None or not isinstance(fields, dict):
            raise ValueError('expected {"id": a task of this review, "fields": {...}}')
        keep = ("id", "round", "instruction", "input", "output", "is_classification", "accepted", "reject_kind")
        return self.store.set({k: task[k] for k in keep}, fields, self.annotator)


def handler(app: ReviewApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not self._own_host():
                return
            if self.path == "/":
                title = f"review: {app.run.path.name}"
                self._send(200, page(title, app.token, str(app.run.review_labels)).encode(), "text/html")
            elif self.path == "/api/tasks":
                self._json(
                    200,
                    {
                        "run": app.run.path.name,
                        "annotator": app.annotator,
                        "tasks": app.tasks,
                        "labels": app.store.read(),
                    },
                )
            elif self.path == "/api/labels":
                self._json(200, app.store.read())
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            if not self._own_host():
                return
            if self.path != "/api/label" or not secrets.compare_digest(
                self.headers.get("X-Review-Token", ""), app.token
            ):
                return self._json(403, {"error": "not this page's token"})
            size = int(self.headers.get("Content-Length") or 0)
            if not 0 < size <= MAX_BODY:
                return self._json(400, {"error": "empty or too large body"})
            try:
                self._json(200, app.label(json.loads(self.rfile.read(size))))
            except ValueError as e:  # bad JSON, an unknown task or field; InputError: the file was damaged
                self._json(400, {"error": str(e)})

        def _own_host(self) -> bool:
            # cast: a TCP server's address is (host, port); the stubs type any server's (a socket path too)
            port = cast(tuple[str, int], self.server.server_address)[1]
            if self.headers.get("Host") in (f"127.0.0.1:{port}", f"localhost:{port}"):
                return True
            self._json(403, {"error": "wrong Host"})
            return False

        def _json(self, code: int, obj: Any) -> None:
            self._send(code, json.dumps(obj, ensure_ascii=False).encode(), "application/json")

        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass  # one line per request would bury the URL

    return Handler


def make_server(run: str | Path, port: int = 0, annotator: str = "", rejected: int = 10) -> ThreadingHTTPServer:
    app = ReviewApp(run, annotator, rejected)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(app))
    server.daemon_threads = True
    server.app = app  # type: ignore[attr-defined]
    return server


def serve_review(run: str | Path, port: int = 0, annotator: str = "", rejected: int = 10) -> None:
    server = make_server(run, port, annotator, rejected)
    app: ReviewApp = server.app  # type: ignore[attr-defined]
    host, port = cast(tuple[str, int], server.server_address)[:2]  # cast: getsockname's host is a str
    shown = sum(not t["accepted"] for t in app.tasks)
    print(
        f"review: http://{host}:{port}/  ({len(app.tasks) - shown} accepted and {shown} rejected tasks; "
        f"labels -> {app.run.review_labels}; Ctrl-C stops)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
