"""The library prints nothing unless the application configures logging; the CLI does."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from faastrain_async.cli.main import main

#: A live-clock env (a simulator on a real clock, 300 times faster): it logs a line per step.
LIVE_STEPS = (
    "import gymnasium, faastrain_async\n"
    "env = gymnasium.make('FaaSTrainGym-v1', sim={'time_scale': 300.0}, interval=3.0)\n"
    "env.reset(seed=0)\n"
    "for _ in range(2):\n"
    "    env.step(5)\n"
    "env.close()\n"
)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)


def test_the_library_is_silent_when_nothing_is_configured() -> None:
    done = run_python(LIVE_STEPS)
    assert (done.stdout, done.stderr) == ("", "")


def test_an_application_that_configures_logging_sees_the_library_lines() -> None:
    done = run_python("import logging\nlogging.basicConfig(level=logging.INFO)\n" + LIVE_STEPS)
    steps = [line for line in done.stderr.splitlines() if line.startswith("INFO:faastrain.env.async_env:")]
    assert len(steps) == 2 and "'event': 'step'" in steps[0], done.stderr
    assert done.stdout == ""


def test_the_cli_shows_the_lines_at_its_level(capsys: pytest.CaptureFixture[str]) -> None:
    live = ["run", "--sim", "time_scale=300", "--interval", "3", "--steps", "2"]
    assert main(["--log-json", "--log-level", "info", *live]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in err.splitlines()]
    assert [(line["event"], line["level"], line["step"]) for line in lines] == [("step", "info", 1), ("step", "info", 2)]
    assert '"event"' not in out  # stdout keeps the run's own output
    assert main(["--log-level", "warning", *live]) == 0
    assert capsys.readouterr().err == ""
    # One handler, replaced by each configuration, not one more per call.
    handlers = logging.getLogger("faastrain").handlers
    assert sum(type(h).__name__ == "_CommandLineHandler" for h in handlers) == 1
