"""A run's results are never lost: each step on disk as it finishes, interrupts that close the
env and write a summary, arguments checked before outputs are touched, write errors in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faastrain_async.cli.main import main
from faastrain_async.env.gym_env import FaaSEnv

ROOT = Path(__file__).resolve().parents[1]


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_no_reset_follows_the_last_step(tmp_path: Path) -> None:
    assert main(["run", "--steps", "20", "--episode-steps", "10", "--out", str(tmp_path)]) == 0
    written = rows(tmp_path / "steps.jsonl")
    resets = [r for r in written if r["action"] is None]
    assert len(resets) == 2 and len(written) == 22  # two episodes, and no third reset
    assert written[-1]["action"] is not None and written[-1]["truncated"]


def test_a_bad_argument_leaves_the_previous_run_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--steps", "5", "--out", str(tmp_path)]) == 0
    before = {name: (tmp_path / name).read_text() for name in ("steps.jsonl", "summary.json")}
    for bad in (["--policy", "magic"], ["--sim", "cold_start=-1"], ["--profile", "sine:period=10"], ["--state-dir", "x"]):
        capsys.readouterr()
        assert main(["run", "--steps", "5", "--out", str(tmp_path), *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("faastrain: error: ") and err.count("\n") == 1, err
    assert {name: (tmp_path / name).read_text() for name in before} == before


def closing_spy(monkeypatch: pytest.MonkeyPatch) -> list[FaaSEnv]:
    """The envs whose close() ran (the real close() still runs)."""
    closed: list[FaaSEnv] = []
    real_close = FaaSEnv.close

    def close(self: FaaSEnv) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(FaaSEnv, "close", close)
    return closed


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda out: (out / "steps.jsonl").symlink_to("/dev/full"), "steps.jsonl: No space left on device"),
        (lambda out: (out / "steps.jsonl").mkdir(), "steps.jsonl: Is a directory"),
    ],
    ids=["full-disk", "a-folder-in-the-way"],
)
def test_a_write_error_is_one_line_and_the_env_is_closed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, make: object, message: str
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    make(out)  # type: ignore[operator]
    closed = closing_spy(monkeypatch)
    assert main(["run", "--steps", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"faastrain: error: cannot write {out / 'steps.jsonl'}: {message.split(': ', 1)[1]}\n"
    assert len(closed) == 1 and closed[0].env.closed


def test_an_output_that_is_a_file_fails_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    for command in (["run", "--steps", "5"], ["evaluate", "--policies", "hpa", "--episodes", "1", "--no-plots"]):
        assert main([*command, "--out", str(taken)]) == 2
        assert capsys.readouterr().err == f"faastrain: error: cannot write into {taken}: it is a file, not a folder\n"
    assert taken.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_a_folder_without_write_permission_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["run", "--steps", "5", "--out", str(locked)]) == 2
    assert "Permission denied" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupt_keeps_every_finished_step_and_writes_a_summary(tmp_path: Path, signum: signal.Signals) -> None:
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "faastrain_async.cli.main", "run", "--steps", "100000000", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (out / "steps.jsonl").exists() or (out / "steps.jsonl").stat().st_size < 20_000:
            assert time.monotonic() < deadline and process.poll() is None, "the run did not get going"
            time.sleep(0.05)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signum
    assert err.decode().endswith(f"faastrain: interrupted ({signum.name})\n")
    summary = json.loads((out / "summary.json").read_text())
    written = rows(out / "steps.jsonl")  # every line whole
    assert summary["interrupted"] == signum.name
    assert summary["steps"] == sum(1 for r in written if r["action"] is not None) > 20


def test_an_interrupted_training_saves_the_model_so_far(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    save = tmp_path / "ppo"
    process = subprocess.Popen(
        [sys.executable, "-m", "faastrain_async.cli.main", "train", "--timesteps", "100000000", "--eval-every", "0",
         "--n-envs", "2", "--save", str(save)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    progress = tmp_path / "ppo-logs" / "progress.csv"
    try:
        deadline = time.monotonic() + 120
        while not progress.exists() or len(progress.read_text().splitlines()) < 3:  # two updates logged
            assert time.monotonic() < deadline and process.poll() is None, "the training did not get going"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, err.decode()[-2000:]
    meta = json.loads((tmp_path / "ppo.json").read_text())
    assert meta["interrupted"] is True and meta["timesteps"] >= 1024
    assert (tmp_path / "ppo.zip").is_file()


def test_training_checks_the_baseline_before_it_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("stable_baselines3")
    assert main(["train", "--timesteps", "64", "--eval-baseline", "magic", "--save", str(tmp_path / "m" / "ppo")]) == 2
    assert "unknown policy 'magic'" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_an_interrupt_inside_a_held_block_is_raised_when_the_block_ends() -> None:
    from faastrain_async.cli.interrupts import Interrupted, held_interrupts, raising_interrupts

    done = []
    with pytest.raises(Interrupted) as raised, raising_interrupts():
        with held_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler has run by now
            done.append("both halves")
    assert done == ["both halves"] and raised.value.signum == signal.SIGINT
