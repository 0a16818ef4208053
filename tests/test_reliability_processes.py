"""Issue 16, processes and streams: batches lose nothing and hang on nothing, whatever the
input, the start method, the other threads or the state of stdin/stdout."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from kneerules import CaseError, Engine, hookimpl, to_dict
from kneerules.batch import pool as batch_module

ROOT = Path(__file__).resolve().parent.parent
KNEERULES = Path(sys.executable).parent / "kneerules"
DVT = json.loads((ROOT / "examples" / "dvt-same-day.json").read_text())
CASES = [{**json.loads(p.read_text()), "case_id": p.stem}
         for p in sorted((ROOT / "examples").glob("*.json"))]


def _kneerules(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    kwargs.setdefault("capture_output", True)
    return subprocess.run([str(KNEERULES), *args], cwd=ROOT, timeout=120, check=False,
                          **kwargs)


def _results(results: Iterator[Any]) -> list[Any]:
    return [to_dict(r) if not isinstance(r, CaseError) else str(r) for r in results]


# --- 6. lone surrogates in --jsonl --------------------------------------------------------

def test_lone_surrogates_in_jsonl_are_one_error_record_each(tmp_path: Path) -> None:
    """A \\ud800 in a case_id or a finding name is one error record; 300 later cases are
    still assessed and the output is valid UTF-8."""
    lines = [json.dumps(DVT)]
    lines.append('{"case_id": "bad\\ud800", "findings": {"pain.behind_knee": true}}')
    lines.append('{"case_id": "x", "findings": {"sign.\\udfff": true}}')
    lines += [json.dumps({**DVT, "case_id": f"later-{i}"}) for i in range(300)]
    source = tmp_path / "cases.jsonl"
    source.write_text("\n".join(lines) + "\n")
    for jobs in ("1", "2"):
        done = _kneerules("eval", "--jsonl", str(source), "--jobs", jobs)
        assert done.returncode == 1
        assert b"Traceback" not in done.stderr
        out = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
        assert len(out) == 303
        assert out[1]["line"] == 2
        assert out[1]["case_id"] == "bad\ud800"
        assert "contains \\ud800" in out[1]["error"]["problems"][0]["message"]
        assert out[2]["error"]["problems"][0]["path"] == '$.findings["sign.\\udfff"]'
        assert [o["case_id"] for o in out[3:]] == [f"later-{i}" for i in range(300)]


# --- 8. evaluate_many: the same results whatever jobs -----------------------------------

def _raising(cases: list[Any], after: int) -> Iterator[Any]:
    for index, case in enumerate(cases):
        if index == after:
            raise OSError("the feed went away")
        yield case


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_raising_input_yields_every_case_before_it(engine: Engine, jobs: int) -> None:
    """When the input generator raises, every case before it is yielded, then the error."""
    cases = CASES * 5
    got: list[Any] = []
    results = engine.evaluate_many(_raising(cases, 37), jobs=jobs, chunksize=4)

    def drain() -> None:
        got.extend(to_dict(result) for result in results)

    with pytest.raises(OSError, match="the feed went away"):
        drain()
    assert got == [to_dict(engine.evaluate(case)) for case in cases[:37]]


class Unpicklable(dict[str, Any]):
    """A case a worker process cannot be sent."""

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle this case")


def test_an_unpicklable_case_gets_the_same_result_whatever_jobs(engine: Engine) -> None:
    """A case that cannot be pickled is still assessed, in its place, with jobs=2."""
    cases: list[Any] = [*CASES * 3]
    cases[5] = Unpicklable(DVT)
    cases[17] = Unpicklable({"findings": {"sign.redess": True}})
    serial = _results(engine.evaluate_many(cases, jobs=1))
    parallel = _results(engine.evaluate_many(cases, jobs=2, chunksize=4))
    assert parallel == serial
    assert "sign.redess" in parallel[17]


class LocalPlugin:
    name = "local_plugin"
    version = "7"


def test_a_local_plugin_and_max_bytes_reach_the_workers() -> None:
    """An engine with a plugin class defined in a test and a small max_bytes gives workers
    the same engine: no pickling error, the same refusals."""

    class Local:  # defined in a function: pickle cannot find it by name
        name = "really_local"

        @hookimpl
        def kneerules_case_facts(self, case: Any, facts: Any) -> Mapping[str, Any]:
            return {}

    engine = Engine(plugins=[Local()], max_bytes=300)
    texts = [json.dumps(case) for case in CASES * 3]
    serial = _results(engine.evaluate_many(texts, jobs=1))
    parallel = _results(engine.evaluate_many(texts, jobs=2, chunksize=4))
    assert parallel == serial
    assert any("larger than the limit of 300 bytes" in str(r) for r in parallel)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_other_start_methods_give_the_same_results(method: str) -> None:
    """Asked for explicitly, spawn and forkserver workers build the same engine, max_bytes
    included (forkserver workers ignored it), and give the results of jobs=1."""
    engine = Engine(max_bytes=300)
    texts = [json.dumps(case) for case in CASES * 2]
    serial = _results(engine.evaluate_many(texts, jobs=1))
    parallel = _results(batch_module.evaluate_many(engine, texts, jobs=2, chunksize=4,
                                                   method=method))
    assert parallel == serial
    assert any("larger than the limit of 300 bytes" in str(r) for r in parallel)


def test_a_local_plugin_under_spawn_is_a_clear_error_up_front() -> None:
    """Asked for spawn explicitly, an engine whose plugin class cannot be pickled is an
    EngineError saying what to do, before any case is sent (it was a raw pickling error)."""
    from kneerules.model.errors import EngineError

    class Local:
        name = "local_under_spawn"

    engine = Engine(plugins=[Local()])
    results = batch_module.evaluate_many(engine, CASES * 3, jobs=2, chunksize=4,
                                         method="spawn")
    with pytest.raises(EngineError, match="define plugin classes at module level"):
        next(results)


def test_jobs_are_capped_at_the_cores(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """jobs=1000 starts no more workers than there are cores."""
    started: list[int] = []
    real = batch_module.ProcessPoolExecutor

    def recording(workers: int, **kwargs: Any) -> Any:
        started.append(workers)
        return real(workers, **kwargs)

    monkeypatch.setattr(batch_module, "ProcessPoolExecutor", recording)
    results = list(engine.evaluate_many(CASES * 3, jobs=1000, chunksize=4))
    assert len(results) == len(CASES) * 3
    assert started == [min(1000, batch_module.cpu_count())]


# A plugin hook that never returns: see test_reliability_v3 (issue 25.4: it costs that
# one case an error, the batch goes on).


SCRIPT = """
import json, threading, time
from kneerules import Engine
engine = Engine()
stop = False
def busy():
    while not stop:
        engine.evaluate({"findings": {"pain.behind_knee": True}})
thread = threading.Thread(target=busy)
thread.start()
cases = [{"case_id": str(i), "findings": {"pain.behind_knee": True}} for i in range(2000)]
results = list(engine.evaluate_many(cases, jobs=2, chunksize=16))
stop = True
thread.join()
print(len(results), results[-1].case_id)
"""


@pytest.mark.slow
def test_a_script_with_a_busy_thread_and_no_main_guard_works(tmp_path: Path) -> None:
    """evaluate_many(jobs=2) in a script with another thread evaluating, and no
    `if __name__ == "__main__"`, finishes with every result."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2000", "1999"]


def test_a_fork_while_another_thread_evaluates_does_not_hang_the_child(engine: Engine) -> None:
    """os.fork() taken while the engine's lock is held: the child still evaluates."""
    runner = engine._runner
    runner._lock.acquire()  # as another thread evaluating at the moment of the fork
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                level = engine.evaluate(DVT).triage.level
                os._exit(0 if level == "urgent" else 3)  # policy v3: same-day DVT
            finally:
                os._exit(4)
    finally:
        runner._lock.release()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung on the lock it inherited")


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return status != "Z"


def test_sigterm_to_the_parent_ends_the_workers(tmp_path: Path) -> None:
    """SIGTERM to `kneerules eval --jsonl - --jobs 2` leaves no orphaned worker."""
    process = subprocess.Popen([str(KNEERULES), "eval", "--jsonl", "-", "--jobs", "2"],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    assert process.stdin is not None
    line = (json.dumps(DVT) + "\n").encode()
    process.stdin.write(line * 2000)  # enough for the pool to start
    process.stdin.flush()
    workers: set[int] = set()
    deadline = time.monotonic() + 30
    while len(workers) < 2 and time.monotonic() < deadline:
        workers = _children(process.pid)
        time.sleep(0.1)
    assert len(workers) >= 2
    process.terminate()
    process.wait(timeout=30)
    with contextlib.suppress(BrokenPipeError):
        process.stdin.close()
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for worker in left:
        os.kill(worker, signal.SIGKILL)
    assert not left, "workers outlived their parent"


# --- 9 and Tracebacks: closed and full streams -------------------------------------------

def test_eval_with_stdout_closed_is_an_error() -> None:
    """With standard output closed, eval says so and exits non-zero (it exited 0, silent)."""
    done = _kneerules("eval", "examples/dvt-same-day.json", stdout=None, stderr=subprocess.PIPE,
                      capture_output=False, pass_fds=(), preexec_fn=lambda: os.close(1))
    assert done.returncode == 1
    assert b"standard output is closed" in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize("args", [["examples/dvt-same-day.json"],
                                  ["--jsonl", "examples/dvt-same-day.json"]],
                         ids=["eval", "--jsonl"])
def test_eval_to_a_full_disk_is_an_error(args: list[str]) -> None:
    """Writing to /dev/full is a one-line error and exit 1, not a traceback."""
    with open("/dev/full", "wb") as full:
        done = _kneerules("eval", *args, stdout=full, stderr=subprocess.PIPE,
                          capture_output=False)
    assert done.returncode == 1
    assert b"No space left on device" in done.stderr
    assert b"Traceback" not in done.stderr
    assert b"Exception ignored" not in done.stderr


@pytest.mark.parametrize("args", [["-"], ["--jsonl", "-"]], ids=["eval -", "--jsonl -"])
def test_eval_with_stdin_closed_is_an_error(args: list[str]) -> None:
    """Reading a closed standard input is a usage error, not a traceback."""
    done = _kneerules("eval", *args, preexec_fn=lambda: os.close(0))
    assert done.returncode == 2
    assert b"standard input is closed" in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize("source", ["fifo", "/dev/stdin"])
def test_jsonl_from_a_pipe_with_a_terminal_for_stderr(tmp_path: Path, source: str) -> None:
    """--jsonl from a FIFO or /dev/stdin, progress shown on a terminal: no seek, no traceback."""
    lines = (json.dumps(DVT) + "\n") * 3
    primary, secondary = pty.openpty()
    try:
        if source == "fifo":
            path = tmp_path / "cases.fifo"
            os.mkfifo(path)
            writer = threading.Thread(target=lambda: path.write_text(lines))
            writer.start()
            done = _kneerules("eval", "--jsonl", str(path), stdout=subprocess.PIPE,
                              stderr=secondary, capture_output=False)
            writer.join()
        else:
            done = _kneerules("eval", "--jsonl", "/dev/stdin", input=lines.encode(),
                              stdout=subprocess.PIPE, stderr=secondary, capture_output=False)
        os.set_blocking(primary, False)
        try:
            shown = os.read(primary, 65536)
        except BlockingIOError:
            shown = b""
    finally:
        os.close(primary)
        os.close(secondary)
    assert done.returncode == 0, shown
    assert b"Traceback" not in shown
    assert len(done.stdout.splitlines()) == 3
    assert b"3 cases" in shown


# --- Hangs: endless lines ----------------------------------------------------------------

def test_a_line_longer_than_max_bytes_is_refused_and_the_rest_go_on(tmp_path: Path) -> None:
    """A 5 MB line is one error record; the lines after it are assessed."""
    source = tmp_path / "cases.jsonl"
    source.write_bytes(b'{"case_id": "' + b"x" * 5_000_000 + b'"}\n' + json.dumps(DVT).encode()
                       + b"\n")
    done = _kneerules("eval", "--jsonl", str(source), "--max-bytes", "1000")
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert out[0]["error"]["problems"][0]["message"] == (
        "the input is larger than the limit of 1000 bytes")
    assert out[1]["triage"]["timeframe"] == "today"  # policy v3: same-day DVT


@pytest.mark.slow
def test_jsonl_from_dev_zero_stays_small() -> None:
    """--jsonl /dev/zero (no newline, ever) reads on in bounded memory instead of growing
    without bound (it reached gigabytes in seconds)."""
    process = subprocess.Popen([str(KNEERULES), "eval", "--jsonl", "/dev/zero", "--jobs", "1",
                                "--max-bytes", "100000"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    time.sleep(3)
    assert process.poll() is None
    rss_kb = int(Path(f"/proc/{process.pid}/status").read_text().split("VmRSS:")[1].split()[0])
    process.kill()
    assert process.stdout is not None
    process.stdout.close()
    process.wait()
    assert rss_kb < 200_000


def test_the_deadline_gives_sigalrm_back(engine: Engine) -> None:
    """After a batch in this process, SIGALRM has the handler it had before."""
    before = signal.getsignal(signal.SIGALRM)
    assert len(list(engine.evaluate_many(CASES, jobs=1, deadline=5))) == len(CASES)
    assert signal.getsignal(signal.SIGALRM) == before


def test_several_files_with_a_lone_surrogate_keep_their_places(tmp_path: Path) -> None:
    """eval --format json with several files, one holding a lone surrogate: an error record
    in its place, valid UTF-8, the others assessed."""
    (tmp_path / "a.json").write_text(json.dumps(DVT))
    (tmp_path / "b.json").write_text('{"case_id": "\\udc80", "findings": {}}')
    (tmp_path / "c.json").write_text(json.dumps({**DVT, "case_id": "c"}))
    done = _kneerules("eval", "--format", "json", *(str(tmp_path / f"{n}.json") for n in "abc"))
    assert done.returncode == 1
    out = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert [o.get("case_id") for o in out] == [DVT["case_id"], None, "c"]
    assert out[1]["error"]["problems"][0]["path"] == "$.case_id"
    assert b"Traceback" not in done.stderr
