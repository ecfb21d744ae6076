from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from hag_training import sandbox
from hag_training.sandbox import isolation_mode, run_python
from hag_training.tasks.code import extract_code

CONNECT = textwrap.dedent(
    """
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(("127.0.0.1", {port}))
    s.sendall(b"leak")
    print("CONNECTED")
    """
)


@pytest.fixture
def listener():
    """A real TCP server on 127.0.0.1; yields (port, did_anyone_connect)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)

    def connected() -> bool:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    yield server.getsockname()[1], connected
    server.close()


@pytest.mark.unit
def test_runs_in_a_separate_process_and_directory():
    r = run_python("import os; print(os.getpid()); print(os.getcwd()); open('x.txt', 'w').write('ok')")
    assert r.ok, r.stderr
    pid, cwd = r.stdout.split()
    assert int(pid) != os.getpid() and os.path.basename(cwd).startswith("hag-sandbox-")
    assert not os.path.exists(cwd)  # the throw-away directory is gone


@pytest.mark.unit
def test_infinite_loop_is_killed_at_the_wall_time_limit():
    start = time.monotonic()
    r = run_python("while True:\n    pass\n", timeout=1.5)
    assert r.timed_out and not r.ok and r.returncode is None
    assert 1.4 < time.monotonic() - start < 6


@pytest.mark.unit
def test_sleeping_child_processes_are_killed_too():
    r = run_python("import time\ntime.sleep(60)\n", timeout=1)
    assert r.timed_out and r.duration_s < 5


@pytest.mark.unit
def test_memory_hog_fails_fast():
    r = run_python(
        "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 1024 * 1024))\n", memory_mb=256, timeout=20
    )
    assert not r.ok and not r.timed_out and "MemoryError" in r.stderr


@pytest.mark.unit
def test_write_outside_the_directory_is_refused(tmp_path):
    target = tmp_path / "escaped.txt"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    code = textwrap.dedent(
        f"""
        import os, shutil
        for attempt in (
            lambda: open({str(target)!r}, "w").write("x"),
            lambda: open({str(target)!r}, "a").write("x"),
            lambda: os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT),
            lambda: open("../" * 20 + {str(target)!r}.lstrip("/"), "w"),
            lambda: os.remove({str(victim)!r}),
            lambda: os.rename({str(victim)!r}, "stolen.txt"),
            lambda: shutil.rmtree({str(tmp_path)!r}),
        ):
            try:
                attempt()
                print("ESCAPED")
            except PermissionError:
                print("refused")
        """
    )
    r = run_python(code)
    assert r.stdout.split() == ["refused"] * 7, r.stderr
    assert not target.exists() and victim.read_text() == "keep"


@pytest.mark.unit
def test_reading_inside_and_outside_still_works():
    r = run_python(
        "print(open('/etc/hostname').read() != ''); open('a.txt','w').write('1'); print(open('a.txt').read())"
    )
    assert r.ok and r.stdout.split() == ["True", "1"], r.stderr


@pytest.mark.unit
def test_network_is_blocked(listener):
    port, connected = listener
    r = run_python(CONNECT.format(port=port), timeout=10)
    assert not r.ok and "CONNECTED" not in r.stdout
    assert not connected()


@pytest.mark.unit
def test_same_connection_succeeds_outside_the_sandbox(listener):
    """Control: the attempt above is a real one that works when not sandboxed."""
    port, connected = listener
    out = subprocess.run([sys.executable, "-c", CONNECT.format(port=port)], capture_output=True, text=True, timeout=10)
    assert "CONNECTED" in out.stdout
    assert connected()


@pytest.mark.unit
@pytest.mark.skipif(isolation_mode() == "audit-hook", reason="no network namespace on this machine")
def test_network_namespace_alone_blocks_a_connection(listener):
    """The namespace layer with the audit hook switched off: the child cannot reach the host's loopback."""
    port, connected = listener
    r = sandbox._run(
        CONNECT.format(port=port), mode=isolation_mode(), timeout=10, memory_mb=512, file_mb=1, files=None, hook=False
    )
    assert not r.ok and "CONNECTED" not in r.stdout
    assert "Network is unreachable" in r.stderr or "Connection refused" in r.stderr, r.stderr
    assert not connected()


@pytest.mark.unit
def test_processes_cannot_be_started():
    r = run_python("import subprocess\nsubprocess.run(['true'])\n")
    assert not r.ok and "subprocess.Popen is refused" in r.stderr
    r = run_python("import os\nos.system('true')\n")
    assert not r.ok and "os.system is refused" in r.stderr


@pytest.mark.unit
def test_bad_arguments():
    with pytest.raises(ValueError, match="plain names"):
        run_python("pass", files={"../x.py": ""})
    with pytest.raises(ValueError, match="`timeout` must be > 0"):
        run_python("pass", timeout=0)


@pytest.mark.parametrize("name", ["mbpp", "humaneval"])
def test_canonical_solutions_pass_and_wrong_code_fails(tasks, name):
    task = tasks[name]
    for e in task.load()[:3]:
        solution = e.meta["solution"] if name == "mbpp" else e.input + e.meta["solution"]
        assert task.score(e, f"Here you go:\n```python\n{solution}\n```\nDone.") == 1.0
        assert task.score(e, "```python\ndef nothing():\n    return None\n```") == 0.0
    e = task.load()[0]
    broken = (
        e.meta["solution"].replace("return", "return not", 1)
        if name == "humaneval"
        else (e.meta["solution"].replace("return s", "return s[::-1]"))
    )
    program = broken if name == "mbpp" else e.input + broken
    assert broken != e.meta["solution"] and task.score(e, program) == 0.0


def test_humaneval_body_only_reply_is_joined_to_the_prompt(tasks):
    task = tasks["humaneval"]
    e = task.load()[0]
    assert task.score(e, e.meta["solution"]) == 1.0


@pytest.mark.unit
def test_patching_the_hook_helpers_does_not_disarm_it(tmp_path):
    target = tmp_path / "escaped.txt"
    code = textwrap.dedent(
        f"""
        import os, sys, gc
        import pathlib
        pure = pathlib.PurePath({str(target)!r})
        os.path.realpath = os.path.normpath = lambda p: os.getcwd()
        sys.modules["__main__"].__dict__.clear()

        class Sneaky:
            def __fspath__(self):
                return {str(target.parent / "made-outside")!r}

        for attempt in (lambda: open({str(target)!r}, "w"), gc.get_objects,
                        lambda: os.remove(pure), lambda: os.mkdir(Sneaky())):
            try:
                attempt()
                print("ESCAPED")
            except PermissionError:
                print("refused")
        """
    )
    target.write_text("keep")
    r = run_python(code)
    assert r.stdout.split() == ["refused"] * 4, r.stderr
    assert target.read_text() == "keep" and not (tmp_path / "made-outside").exists()


@pytest.mark.unit
def test_concurrent_runs_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: run_python(f"print({i} * {i})"), range(8)))
    assert [r.stdout.strip() for r in results] == [str(i * i) for i in range(8)]
    assert all(r.ok for r in results)


def test_model_style_replies_are_cleaned_before_running(tasks):
    mbpp = tasks["mbpp"].load()[0]
    reply = (
        f"```python\n{mbpp.meta['solution']}\n\n# Test the function\nprint(remove_Occ('hello', 'l'))\n"
        "print(undefined_name)  # Output: heo\n```\n\nThis function removes the first and last occurrence."
    )
    assert tasks["mbpp"].score(mbpp, reply) == 1.0
    he = tasks["humaneval"].load()[0]
    reply = (
        f"{he.input}{he.meta['solution']}\nprint(has_close_elements([1.0], 0.5))\n```\n\nThis function compares pairs."
    )
    assert tasks["humaneval"].score(he, reply) == 1.0
    assert extract_code("```python\ndef f():\n    return 1\n\nif __name__ == '__main__':\n    f()\n```") == (
        "def f():\n    return 1\n"
    )
