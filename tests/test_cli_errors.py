"""Every error of ``faastrain`` and ``faastrain-loadgen`` is one line naming the value, exit
status 2, never a traceback: both run as real processes over a table of bad inputs.

Where a case needs a server, it is a real one on 127.0.0.1: an HTTP server that answers,
and a socket that accepts connections and never answers (a hung Prometheus).
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Bounds the run of one case (not a timing target: a case that hangs fails instead of blocking the suite).
CASE_TIMEOUT = 120


@pytest.fixture(scope="module")
def answering() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers every request (for the load generator's reachability check)."""

    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, name="answering-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def silent() -> Iterator[str]:
    """A server on 127.0.0.1 that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(10)
        for connection in accepted:
            connection.close()
        listener.close()


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, str]:
    """Bad files of every kind a command may be given."""
    (tmp_path / "a-file").write_text("x")
    state = tmp_path / "state"
    state.mkdir()
    (state / "cluster.json").write_text("not json{")
    (tmp_path / "garbage.jsonl").write_text("garbage\n")
    (tmp_path / "list.jsonl").write_text("[1, 2]\n")
    (tmp_path / "no-window.jsonl").write_text('{"info": {"t_action": 1700000000}}\n')
    (tmp_path / "simulated.jsonl").write_text('{"info": {"t_action": 0.0, "window": [0.0, 30.0]}}\n')
    (tmp_path / "truncated.json").write_text('{"service_time": ')
    return {"tmp": str(tmp_path), "file": str(tmp_path / "a-file"), "state": str(state)}


FAASTRAIN = [
    # (arguments, what the line must name)
    ("run --steps 2 --out {file}", "{file}"),
    ("run --steps 2 --out {file}/sub", "{file}"),
    ("run --steps 2 --interval nan", "interval=nan"),
    ("run --steps 2 --interval 1e300", "interval=1e+300"),
    ("run --steps 2 --interval x", "--interval"),
    ("run --steps 2 --profile constant:rate=1e30", "rate=1e+30"),
    ("run --steps 2 --sim tick=1e-300", "tick=1e-300"),
    ("run --steps 2 --sim time_scale=1e300", "time_scale=1e+300"),
    ("run --steps 2 --sim calibration={tmp}/truncated.json", "truncated.json"),
    ("run --steps 2 --settle-timeout 1e300", "settle_timeout=1e+300"),
    ("run --steps 2 --backend kubernetes --kube prometheus_url=http://[::1", "prometheus_url='http://[::1'"),
    ("run --steps 2 --backend kubernetes --kube label_selector=a", "label_selector='a'"),
    ("run --steps 2 --backend kubernetes --interval 0.5", "interval=0.5"),
    ("run --steps 2 --backend kubernetes --local-cluster --state-dir {state}", "cluster.json"),
    ("run --steps 2 --seed -1", "--seed=-1"),
    ("run --steps 2 --backend kubernetes --kube kubeconfig={file}", "{file}"),
    ("run --steps 2 --backend kubernetes --kube kubeconfig={tmp}/missing.yaml", "missing.yaml"),
    ("local status --state-dir {state}", "cluster.json"),
    ("local down --state-dir {state}", "cluster.json"),
    ("local up --state-dir {file}", "{file}"),
    ("local up --state-dir {file}/sub", "{file}/sub"),
    ("export --prometheus localhost:9090 --start 1700000000 --end 1700000100 --out {tmp}/o.csv", "localhost:9090"),
    ("export --prometheus http://[::1 --start 1700000000 --end 1700000100 --out {tmp}/o.csv", "http://[::1"),
    ("export --prometheus {answering} --steps-file {tmp}/garbage.jsonl --out {tmp}/o.csv", "garbage.jsonl' line 1"),
    ("export --prometheus {answering} --steps-file {tmp}/list.jsonl --out {tmp}/o.csv", "list.jsonl' line 1"),
    ("export --prometheus {answering} --steps-file {tmp}/no-window.jsonl --out {tmp}/o.csv", "no-window.jsonl' line 1"),
    ("export --prometheus {answering} --steps-file {tmp}/simulated.jsonl --out {tmp}/o.csv", "simulated run"),
    ("export --prometheus {answering} --steps-file {tmp}/missing.jsonl --out {tmp}/o.csv", "missing.jsonl"),
    ("export --prometheus {answering} --start 1 --end 1e300 --step 1e-300 --out {tmp}/o.csv", "--start 1.0"),
    ("export --prometheus {answering} --start 1700000000 --end 1800000000 --out {tmp}/o.csv", "rows"),
    ("export --prometheus {answering} --start 1700000000 --end 1700000100 --step nan --out {tmp}/o.csv", "--step nan"),
    ("export --prometheus {answering} --start 1700000000 --end 1700000100 --timeout inf --out {tmp}/o.csv", "--timeout=inf"),
    ("export --prometheus {answering} --start 1700000000 --end 1700000100 --out {file}/o.csv", "{file}"),
    ("export --prometheus {answering} --start 1700000000 --end 1700000100 --out {tmp}", "{tmp}"),
    ("export --prometheus {answering} --start 1700000000 --end 1700000100 --out {tmp}/o.csv", "{answering}"),
    ("export --prometheus {silent} --start 1700000000 --end 1700000100 --timeout 1 --out {tmp}/o.csv", "within 1s"),
    ("calibrate --local-cluster --out {file}/x.json", "{file}"),
    ("no-such-command", "no-such-command"),
]

LOADGEN = [
    ("--url {answering} --profile constant:rate=1 --timeout nan", "--timeout=nan"),
    ("--url {answering} --profile constant:rate=1 --timeout inf", "--timeout=inf"),
    ("--url {answering} --profile constant:rate=1 --duration nan", "--duration=nan"),
    ("--url {answering} --profile constant:rate=1 --duration inf", "--duration=inf"),
    ("--url {answering} --profile constant:rate=1e30 --duration 2", "rate=1e+30"),
    ("--url {answering} --trace {tmp}/garbage.jsonl", "garbage.jsonl"),
    ("--url {answering} --profile constant:rate=1 --max-users 10000000000", "--max-users=10000000000"),
    ("--url {answering} --profile constant:rate=1 --stats {file}/stats.jsonl", "{file}"),
    ("--url {answering} --profile constant:rate=1 --stats {tmp}", "{tmp}"),
    ("--url http://[::1 --profile constant:rate=1", "http://[::1"),
    ("--url http://127.0.0.1:99999 --profile constant:rate=1", "127.0.0.1:99999"),
    ("--url ftp://x --profile constant:rate=1", "ftp://x"),
]


def _assert_one_error_line(module: str, line: str, values: dict[str, str], prefix: str, named: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module`` with ``line``; it must exit 2 with one stderr line that starts
    with ``prefix`` and names ``named``, and no traceback."""
    argv = [part.format(**values) for part in line.split()]
    result = subprocess.run(
        [sys.executable, "-m", module, *argv], capture_output=True, text=True, timeout=CASE_TIMEOUT, stdin=subprocess.DEVNULL
    )
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), lines[0]
    assert named.format(**values) in lines[0], lines[0]
    return result


@pytest.mark.parametrize(("line", "named"), FAASTRAIN, ids=[line for line, _ in FAASTRAIN])
def test_faastrain_errors_are_one_line_and_exit_2(line: str, named: str, files: dict[str, str], answering: str, silent: str) -> None:
    values = {**files, "answering": answering, "silent": silent}
    _assert_one_error_line("faastrain_async.cli.main", line, values, "faastrain", named)


@pytest.mark.parametrize(("line", "named"), LOADGEN, ids=[line for line, _ in LOADGEN])
def test_loadgen_errors_are_one_line_and_exit_2(line: str, named: str, files: dict[str, str], answering: str) -> None:
    values = {**files, "answering": answering}
    result = _assert_one_error_line("loadgen", line, values, "faastrain-loadgen: error: ", named)
    assert result.stdout == ""
