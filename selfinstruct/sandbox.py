"""Runs code the teacher wrote, never in the engine's process: a child Python in a fresh folder.

Each layer is there because the code is untrusted and often wrong (an endless loop, a fork, a
write to the wrong path):
- resource limits (CPU seconds, address space, file size, open files, processes) and a wall clock;
- Landlock (Linux >= 5.13): writes only inside its own folder, no TCP connect or bind;
- `unshare`: a network namespace (no interface but a down loopback) and a PID namespace whose
  first process takes every other one with it when it ends, so nothing is left behind;
- as root, the code runs as nobody (setpriv), so the process limit applies and root files stay shut;
- a clean environment (`python -I`, PATH and HOME only), cwd the temporary folder, removed after.

`probe()` finds once which layers this host allows; a host without them still runs code, in its own
session that is killed as a group, and `isolation` says what held. Tests prove each limit.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 5
    wall_s: float = 10.0
    memory_mb: int = 1024  # address space: numpy's import alone maps ~300 MB
    file_mb: int = 16
    processes: int = 16
    output_chars: int = 20_000  # of stdout and of stderr kept


@dataclass
class Result:
    returncode: int | None  # None: killed at the wall clock
    stdout: str
    stderr: str
    wall_s: float
    timed_out: bool = False
    isolation: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def why(self) -> str:
        """One short line: how the run failed."""
        if self.timed_out:
            return "timed out"
        if self.returncode is not None and self.returncode < 0:
            return f"killed by {signal.Signals(-self.returncode).name}"
        if "unshare: sigprocmask unblock failed" in self.stderr:  # unshare relaying its child's fatal signal
            return "killed by a signal (CPU time limit)"
        lines = [ln for ln in self.stderr.strip().splitlines() if ln.strip()]
        return lines[-1][:160] if lines else f"exit {self.returncode}"


def run_python(code: str, *, stdin: str = "", limits: Limits = Limits(), files: dict[str, str] | None = None) -> Result:
    """Runs `code` as main.py (beside `files`) in a new temporary folder; returns what it printed."""
    layers = probe()
    work = tempfile.mkdtemp(prefix="selfinstruct-sandbox-")
    try:
        os.chmod(work, 0o777)  # the code may run as nobody
        for name, text in {**(files or {}), "main.py": code}.items():
            with open(os.path.join(work, name), "w", encoding="utf-8", errors="surrogatepass") as f:
                f.write(text)
        return _run(_command(layers, [sys.executable, "-I", "-u", "main.py"]), work, stdin, limits, layers)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _command(layers: tuple[str, ...], argv: list[str]) -> list[str]:
    prefix = []
    if "namespaces" in layers:
        prefix = ["unshare", "--net", "--pid", "--fork", "--kill-child"]
        if os.geteuid() != 0:
            prefix.insert(1, "--user")
            prefix.insert(2, "--map-root-user")
    if "nobody" in layers:
        prefix += ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    return prefix + argv


def _run(argv: list[str], work: str, stdin: str, limits: Limits, layers: tuple[str, ...]) -> Result:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": work,
        "TMPDIR": work,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
    }
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=work,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: _confine(work, limits, layers),
    )
    timed_out = False
    try:
        out, err = proc.communicate(stdin.encode("utf-8", "surrogatepass"), timeout=limits.wall_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)
        out, err = proc.communicate()
    finally:
        _kill_group(proc.pid)  # whatever it started in its session goes too (the namespace already did)
    cut = limits.output_chars
    return Result(
        None if timed_out else proc.returncode,
        out.decode("utf-8", "replace")[:cut],
        err.decode("utf-8", "replace")[-cut:],
        time.monotonic() - t0,
        timed_out,
        list(layers),
    )


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _confine(work: str, limits: Limits, layers: tuple[str, ...]) -> None:
    """In the child, before exec: limits first, then Landlock (inherited by everything it starts)."""
    mb = 1024 * 1024
    rules = [
        (resource.RLIMIT_CPU, limits.cpu_s),
        (resource.RLIMIT_AS, limits.memory_mb * mb),
        (resource.RLIMIT_FSIZE, limits.file_mb * mb),
        (resource.RLIMIT_NOFILE, 64),
        (resource.RLIMIT_CORE, 0),
    ]
    if "nobody" in layers:  # counted per user: only nobody's own processes are ours alone
        rules.append((resource.RLIMIT_NPROC, limits.processes))
    for res, value in rules:
        resource.setrlimit(res, (value, value))
    if "landlock" in layers:
        _landlock(work)


# Landlock's ABI (linux/landlock.h): syscall numbers are the same on x86_64 and aarch64.
_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446
_PR_SET_NO_NEW_PRIVS = 38
_FS_WRITE = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14))  # write, remove, make*, refer, truncate
_NET_ALL = (1 << 0) | (1 << 1)  # bind and connect over TCP (ABI 4)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _landlock(work: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(_SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    fs = _FS_WRITE if abi >= 3 else _FS_WRITE & ~(1 << 14)  # truncate came with ABI 3, refer with 2
    fs = fs if abi >= 2 else fs & ~(1 << 13)
    attr = _RulesetAttr(fs, _NET_ALL if abi >= 4 else 0)
    size = ctypes.sizeof(attr) if abi >= 4 else 8
    fd = libc.syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    for path in (work, "/dev/null"):
        pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        rule = _PathBeneath(fs if os.path.isdir(path) else 1 << 1, pfd)
        if libc.syscall(_SYS_ADD_RULE, fd, 1, ctypes.byref(rule), 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_add_rule")
        os.close(pfd)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.syscall(_SYS_RESTRICT, fd, 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    os.close(fd)


@lru_cache(maxsize=1)
def probe() -> tuple[str, ...]:
    """The isolation layers this host allows, each tried with a trivial run, most first."""
    work = tempfile.mkdtemp(prefix="selfinstruct-probe-")
    os.chmod(work, 0o777)
    try:
        for layers in (
            ("namespaces", "nobody", "landlock"),
            ("namespaces", "landlock"),
            ("landlock",),
            ("namespaces",),
            (),
        ):
            if "namespaces" in layers and not shutil.which("unshare"):
                continue
            if "nobody" in layers and (os.geteuid() != 0 or not shutil.which("setpriv")):
                continue
            try:
                r = _run(_command(layers, [sys.executable, "-I", "-c", "print(6 * 7)"]), work, "", Limits(), layers)
            except OSError:
                continue
            if r.ok and r.stdout.strip() == "42":
                return layers
        return ()
    finally:
        shutil.rmtree(work, ignore_errors=True)
