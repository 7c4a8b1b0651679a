"""``faastrain-loadgen`` rejects bad input with one clear line and exit status 2."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from loadgen_fixtures import TRACE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadgen", *args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--profile", "wobble:rate=3"], "unknown kind 'wobble'"),
        (["--profile", "sine:period=10,low=5"], "missing high="),
        (["--profile", "sine:period=-1,low=1,high=2"], "period=-1.0 is not valid"),
        (["--profile", "constant:rate=ten"], "rate='ten' is not a valid value"),
        (["--trace", "no-such-trace.json"], "--trace: file not found: 'no-such-trace.json'"),
        (["--trace", str(TRACE), "--compress", "0"], "compress=0.0 is not valid"),
        (["--profile", "constant:rate=1", "--timeout", "0"], "--timeout=0.0 is not valid: must be a number in (0, 3600]"),
        (["--profile", "constant:rate=1", "--arrivals", "burst"], "invalid choice: 'burst'"),
        (["--profile", "constant:rate=1", "--url", "ftp://example.org/"], "--url 'ftp://example.org/'"),
        (["--profile", "constant:rate=1", "--workers", "2", "--expect-workers", "2"], "exclude each other"),
        ([], "give a workload"),
        (["--profile", "constant:rate=1", "--scale", "3"], "--scale applies to --trace only"),
        (["--profile", "sine:period=5..1,low=1,high=2"], "bad range period=5..1"),
        (["--profile", "mix:sine|wobble"], "unknown kind 'wobble' in the mix"),
        (["--trace", "a|b.json"], "must not contain ',' or '|'"),
    ],
)
def test_bad_values_are_named_on_one_line(args: list[str], named: str) -> None:
    result = _cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("faastrain-loadgen: error: ")
    assert named in lines[0]


def test_unreachable_url_is_refused_before_starting() -> None:
    url = f"http://127.0.0.1:{_free_port()}/function/echo"
    result = _cli("--url", url, "--profile", "constant:rate=5", "--duration", "2")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"faastrain-loadgen: error: --url {url!r} is unreachable: cannot connect to "
        f"127.0.0.1:{url.split(':')[2].split('/')[0]} (Connection refused)"
    )


def test_help_lists_the_options() -> None:
    result = _cli("--help")
    assert result.returncode == 0
    for option in ("--url", "--profile", "--trace", "--interval", "--scale", "--compress", "--duration",
                   "--seed", "--stats", "--workers", "--worker", "--master-host"):
        assert option in result.stdout
