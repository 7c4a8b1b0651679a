"""Training with the rl extra: skipped cleanly when Stable-Baselines3 (and PyTorch) are absent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from faastrain_async.config import EnvSettings
from faastrain_async.errors import ConfigError
from faastrain_async.policies import make_policy


def test_the_base_install_imports_no_torch() -> None:
    code = (
        "import sys, faastrain_async, faastrain_async.policies, faastrain_async.evaluation, faastrain_async.cli.main\n"
        "faastrain_async.cli.main.build_parser()\n"
        "bad = [m for m in ('torch', 'stable_baselines3', 'sb3_contrib', 'matplotlib', 'ray') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_each_training_module_imports_first() -> None:
    # A Ray worker's first import is the module of the env creator it unpickles; a cycle
    # between the policies and the training modules would break it (and only then).
    modules = ["faastrain_async.policies", *(f"faastrain_async.training.{m}" for m in
               ("features", "model_policy", "periodic", "trainer", "rllib", "rllib_policy", "ray_node"))]  # fmt: skip
    children = [subprocess.Popen([sys.executable, "-c", f"import {m}"], stderr=subprocess.PIPE, text=True) for m in modules]
    failed = {m: child.communicate(timeout=120)[1][-300:] for m, child in zip(modules, children) if child.wait(120)}
    assert not failed


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        make_policy(f"model:{tmp_path / 'none.zip'}", EnvSettings())
    with pytest.raises(ConfigError, match="needs the saved model's path"):
        make_policy("model", EnvSettings())


def test_short_ppo_run_trains_saves_reloads_and_evaluates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("stable_baselines3")
    from faastrain_async.cli.main import main

    env_args = ["--profile", "sine:period=300,low=2,high=30", "--episode-steps", "8", "--reward", "normalized"]
    save = tmp_path / "ppo"
    argv = ["train", "--algo", "ppo", "--timesteps", "512", "--n-envs", "2", "--eval-every", "256", "--eval-episodes", "1",
            "--checkpoint-every", "256", "--save", str(save), *env_args]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "ppo.zip").is_file() and (tmp_path / "ppo.json").is_file()
    assert (tmp_path / "ppo-best.zip").is_file()
    assert (tmp_path / "ppo-logs" / "progress.csv").is_file()
    assert len((tmp_path / "ppo-logs" / "eval.csv").read_text().splitlines()) == 3  # header + 2 evaluations
    assert list((tmp_path / "ppo-checkpoints").glob("*.zip"))
    capsys.readouterr()

    out = tmp_path / "eval"
    ev = ["evaluate", "--policies", f"hpa,model:{save}", "--seeds", "5", "--episodes", "2", "--out", str(out), "--quiet", "--no-plots", *env_args]
    assert main(ev) == 0
    first = (out / "episodes.csv").read_text()
    assert f"model:{save}" in first
    assert main(ev) == 0
    assert (out / "episodes.csv").read_text() == first  # a deterministic model: the same numbers


def test_a_model_refuses_an_env_with_another_action_space(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from faastrain_async.env.gym_env import FaaSEnv
    from faastrain_async.training.trainer import TrainConfig, train

    config = TrainConfig(timesteps=256, n_envs=1, eval_every=0, save=tmp_path / "m")
    train(config, lambda: FaaSEnv("sim", episode_steps=4))
    with pytest.raises(ConfigError, match=r"Discrete\(11\).*Discrete\(2\)"):
        make_policy(f"model:{tmp_path / 'm.zip'}", EnvSettings(action_mode="updown"))


def test_training_on_a_live_backend_refuses_parallel_envs(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from faastrain_async.env.gym_env import FaaSEnv
    from faastrain_async.training.trainer import TrainConfig, train

    live = lambda: FaaSEnv("sim", sim={"time_scale": 1000.0})  # noqa: E731 - a real (sped-up) clock
    with pytest.raises(ConfigError, match="n_envs=1 and eval_every=0"):
        train(TrainConfig(timesteps=64, n_envs=2, save=tmp_path / "m"), live)
