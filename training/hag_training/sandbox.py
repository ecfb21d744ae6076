"""Run untrusted Python (model-written code) in a separate, limited process.

Layers, each verified by `tests/training/test_sandbox.py`:

* a child process (`sys.executable -I`), in its own session, killed as a group after `timeout` seconds of wall time;
* `resource` limits, set in the child before the program starts: address space (`memory_mb`), CPU seconds, file
  size, open files;
* a throw-away working directory, deleted afterwards;
* no network: as root, a fresh network namespace (only a down loopback) via `unshare(CLONE_NEWNET)`; otherwise an
  unprivileged user+network namespace where the kernel allows one; in every case an audit hook that refuses socket
  creation, connect, bind and DNS;
* as root, the child drops to user `nobody` where that user can run the interpreter (then only its directory and
  world-writable folders are writable to it);
* an audit hook (PEP 578) that refuses opening for write, deleting, renaming or creating files outside the working
  directory, and refuses starting processes, `os.fork`, `ctypes`, signals, and `gc` introspection
  that could reach the hook itself.

Audit hooks are not a boundary against a determined attacker (C extensions can bypass them); the namespace and the
unprivileged user are. For hostile code at scale, run the whole search inside a container.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass

__all__ = ["SandboxResult", "isolation_mode", "run_python"]

_NOBODY = 65534

# Runs in the child before the untrusted program: argv[1] is the program file (in the working directory), argv[2] the
# JSON settings. Limits are applied here rather than in a `preexec_fn`, which is unsafe when the caller has threads.
_BOOTSTRAP = textwrap.dedent(
    """
    import json, os, sys

    def _confine(cfg):
        import resource
        if cfg["mode"] != "audit-hook":
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            flags = 0x40000000 if cfg["mode"].startswith("netns") else 0x10000000 | 0x40000000  # NEWNET, NEWUSER
            if libc.unshare(flags) != 0:
                raise OSError(ctypes.get_errno(), "unshare(%#x) failed" % flags)
            if cfg["mode"] == "netns+nobody":
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
        mb = 1024 * 1024
        for name, value in (("AS", cfg["memory_mb"] * mb), ("CPU", cfg["cpu_s"]), ("FSIZE", cfg["file_mb"] * mb),
                            ("NOFILE", 256), ("CORE", 0)):
            resource.setrlimit(getattr(resource, "RLIMIT_" + name), (value, value))
        for name in ("ctypes", "ctypes._endian", "_ctypes"):
            sys.modules.pop(name, None)

    def _install():
        # The hook runs no code the program can replace: every helper is bound here, in closure cells the program
        # cannot reach (gc is refused), paths must be plain str/bytes (a PathLike would run program code), and
        # normalisation is C code where available (3.11+). Symlinks pointing outside cannot be created.
        try:
            from posix import _path_normpath as normpath
        except ImportError:
            normpath = os.path.normpath
        typeof, strtype, bytestype, inttype = type, str, bytes, int
        root = os.path.realpath(os.getcwd())
        prefix = root + os.sep
        write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
        path_events = frozenset({"os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
                                 "os.utime", "shutil.rmtree", "os.link", "os.symlink", "os.rename"})
        two_paths = frozenset({"os.rename", "os.link", "os.symlink"})
        refused = ("socket.", "subprocess.", "os.exec", "os.posix_spawn", "os.spawn", "ctypes.", "gc.get_",
                   "sys._current_frames", "os.system", "os.fork", "pty.spawn", "os.kill", "os.killpg",
                   "os.setuid", "os.setgid", "sys.settrace", "sys.setprofile")

        def inside(p):
            t = typeof(p)
            if t is inttype or p is None:
                return True
            if t is bytestype:
                p = strtype(p, "utf-8", "surrogateescape")
            elif t is not strtype:
                return False
            if not p.startswith("/"):
                p = prefix + p
            p = normpath(p)
            return p == root or p.startswith(prefix)

        def hook(event, args):
            if event == "open":
                path, mode, flags = args
                if typeof(path) is inttype or path is None:
                    return
                writing = (typeof(mode) is strtype and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)) \\
                    or (flags & write_flags) != 0
                if writing and not inside(path):
                    raise PermissionError("sandbox: writing outside the working directory is refused: %r" % (path,))
            elif event in path_events:
                paths = args[:2] if event in two_paths else args[:1]
                for p in paths:
                    if not inside(p):
                        raise PermissionError("sandbox: %s outside the working directory is refused: %r" % (event, p))
            elif event == "object.__setattr__" and args[1] in ("__code__", "__defaults__", "__kwdefaults__"):
                raise PermissionError("sandbox: setting %s is refused" % (args[1],))
            elif event.startswith(refused):
                if event == "socket.__new__" and len(args) > 1 and args[1] == 1:  # AF_UNIX, used by some stdlib code
                    return
                raise PermissionError("sandbox: %s is refused" % (event,))

        sys.addaudithook(hook)

    _cfg = json.loads(sys.argv[2])
    _confine(_cfg)
    if _cfg["hook"]:
        _install()
    del _confine, _install, _cfg
    _path = sys.argv[1]
    sys.argv[:] = [_path]
    with open(_path, encoding="utf-8") as _f:
        _code = compile(_f.read(), _path, "exec")
    exec(_code, {"__name__": "__main__", "__file__": _path, "__builtins__": __builtins__})
    """
)


@dataclass(frozen=True)
class SandboxResult:
    """Outcome of one sandboxed run."""

    returncode: int | None
    """Exit status; negative for a signal, None when killed for time."""
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float
    isolation: str
    """What cut the network and the file system beyond the audit hooks: see `isolation_mode`."""

    @property
    def ok(self) -> bool:
        """True when the program exited with status 0 in time."""
        return self.returncode == 0 and not self.timed_out


_MODE: str | None = None


def isolation_mode() -> str:
    """The strongest isolation this machine allows, probed once.

    "netns+nobody" (root: network namespace and user `nobody`), "netns" (root, where `nobody` cannot run this
    interpreter, e.g. one installed under a private home), "userns" (unprivileged user+network namespace) or
    "audit-hook" (the in-process hooks alone).
    """
    global _MODE
    if _MODE is None:
        candidates = ["netns+nobody", "netns"] if os.geteuid() == 0 else ["userns"]
        _MODE = "audit-hook"
        for mode in candidates:
            try:
                ok = _run("import json, email.utils", mode=mode, timeout=30, memory_mb=512, file_mb=1, files=None).ok
            except OSError:
                ok = False
            if ok:
                _MODE = mode
                break
    return _MODE


def run_python(
    code: str,
    *,
    timeout: float = 10.0,
    memory_mb: int = 512,
    file_mb: int = 16,
    files: dict[str, str] | None = None,
) -> SandboxResult:
    """Run `code` as a Python program in the sandbox and return its outcome; never raises for the program's faults.

    `files` are extra text files written into the working directory first. CPU time is capped at
    `int(timeout) + 2` seconds as a second guard behind the wall-time kill.
    """
    if timeout <= 0 or memory_mb < 64:
        raise ValueError(f"`timeout` must be > 0 and `memory_mb` >= 64, got {timeout} and {memory_mb}")
    return _run(code, mode=isolation_mode(), timeout=timeout, memory_mb=memory_mb, file_mb=file_mb, files=files)


def _run(
    code: str,
    *,
    mode: str,
    timeout: float,
    memory_mb: int,
    file_mb: int,
    files: dict[str, str] | None,
    hook: bool = True,
) -> SandboxResult:
    workdir = tempfile.mkdtemp(prefix="hag-sandbox-")
    try:
        for name, text in {**(files or {}), "program.py": code}.items():
            path = os.path.join(workdir, name)
            if os.path.dirname(os.path.realpath(path)) != os.path.realpath(workdir):
                raise ValueError(f"sandbox file names must be plain names, got {name!r}")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        if mode == "netns+nobody":
            for entry in [workdir, *(os.path.join(workdir, n) for n in os.listdir(workdir))]:
                os.chown(entry, _NOBODY, _NOBODY)
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        cfg = {"mode": mode, "memory_mb": memory_mb, "cpu_s": int(timeout) + 2, "file_mb": file_mb, "hook": hook}
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-X", "utf8", "-c", _BOOTSTRAP, "program.py", json.dumps(cfg)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            out, err = proc.communicate()
        return SandboxResult(
            returncode=None if timed_out else proc.returncode,
            stdout=out.decode("utf-8", "replace")[-20_000:],
            stderr=err.decode("utf-8", "replace")[-20_000:],
            timed_out=timed_out,
            duration_s=time.monotonic() - start,
            isolation=mode,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
