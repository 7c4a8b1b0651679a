"""Training with Ray RLlib (the ray extra): skipped cleanly when Ray is absent.

Ray is heavy on a small machine, so few tests start it: one trains on a Ray node of this
machine and evaluates the checkpoint; the slow ones start a two-node cluster and kill a
node's owner. Every Ray process a test starts belongs to a :class:`RayNode` (a process group
of its own), and the tests check that none is left afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import structlog

from faastrain_async.config import EnvSettings
from faastrain_async.errors import ConfigError
from faastrain_async.policies import make_policy
from faastrain_async.training.ray_node import node_processes
from faastrain_async.training.rllib import RayOptions, runner_env, runner_env_kwargs
from faastrain_async.training.trainer import TrainConfig

if TYPE_CHECKING:
    from faastrain_async.training.ray_node import RayNode

ENV_ARGS = ["--profile", "sine:period=300,low=2,high=30", "--episode-steps", "8", "--reward", "normalized"]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # main() points structlog at this test's captured stderr


def watch(pgids: list[int]) -> list[object]:
    """psutil handles of the nodes' processes now (they tell later whether the same process still runs)."""
    import psutil

    handles = []
    for pgid in pgids:
        for pid in node_processes(pgid):
            with contextlib.suppress(psutil.NoSuchProcess):
                handles.append(psutil.Process(pid))
    return handles


def running(handles: list[object]) -> list[str]:
    import psutil

    left = []
    for proc in handles:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:  # type: ignore[attr-defined]
                left.append(f"{proc.pid} {proc.name()}")  # type: ignore[attr-defined]
    return left


# -- without Ray -----------------------------------------------------------------------


def test_each_live_env_runner_scales_its_own_function() -> None:
    config = {"backend": "kubernetes", "env": {"kubernetes": {"namespace": "fn"}}, "history": 2, "functions": ["a", "b", "c"]}
    assert runner_env_kwargs({**config, "backend": "sim", "env": {}}, 1) == {}
    assert [runner_env_kwargs(config, i)["kubernetes"] for i in (1, 2, 3)] == [
        {"namespace": "fn", "function": f} for f in "abc"
    ]
    assert runner_env_kwargs(config, 0)["kubernetes"]["function"] == "a"  # the driver samples itself
    assert "function" not in runner_env_kwargs({**config, "functions": []}, 2)["kubernetes"]
    # RLlib calls the creator with an EnvContext: a dict carrying the runner's index.
    class Context(dict):  # type: ignore[type-arg]
        worker_index = 2

    env = runner_env(Context(backend="sim", env={"episode_steps": 4}, history=3, functions=[]))
    try:
        assert env.observation_space.shape == (21,)  # 3 steps of 7 features
        assert env.env.env.settings.episode_steps == 4
    finally:
        env.close()


def test_ray_options_refuse_bad_values() -> None:
    with pytest.raises(ConfigError, match="lists a function twice"):
        RayOptions(functions=("a", "a"))
    with pytest.raises(ConfigError, match="function"):
        RayOptions(functions=("Not_A_Name",))
    with pytest.raises(ConfigError, match="num_env_runners=-1"):
        RayOptions(num_env_runners=-1)
    assert RayOptions(functions=("a", "b")).runners(live=True) == 2
    assert RayOptions(functions=("a", "b")).runners(live=False) == 0
    assert RayOptions(num_env_runners=3).runners(live=False) == 3


def test_ray_options_of_the_sb3_engine_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from faastrain_async.cli.main import main

    assert main(["train", "--ray-address", "127.0.0.1:1", "--num-env-runners", "2", "--timesteps", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["faastrain: error: --ray-address, --num-env-runners: only with --engine rllib (this run's engine is sb3)"]


def test_a_keyboard_interrupt_raised_for_a_signal_keeps_that_signal() -> None:
    from faastrain_async.cli.interrupts import Interrupted, raising_interrupts, signal_of

    caught: KeyboardInterrupt | None = None
    before = signal.getsignal(signal.SIGTERM)
    with raising_interrupts():
        try:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(10)  # the handler raises in here
            except KeyboardInterrupt:
                raise KeyboardInterrupt() from None  # a library's own, as Ray's blocking calls raise
        except KeyboardInterrupt as e:
            caught = e
    assert caught is not None and not isinstance(caught, Interrupted)
    assert signal_of(caught) == signal.SIGTERM  # so faastrain exits with 143, not 130
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        make_policy(f"rllib:{tmp_path / 'none'}", EnvSettings())
    with pytest.raises(ConfigError, match="is not an RLlib algorithm checkpoint"):
        make_policy(f"rllib:{tmp_path}", EnvSettings())
    with pytest.raises(ConfigError, match="needs the saved model's path"):
        make_policy("rllib", EnvSettings())
    with pytest.raises(ConfigError, match="unknown option.*known: path, module, history, deterministic"):
        make_policy(f"rllib:{tmp_path},algo=ppo", EnvSettings())


# -- with Ray, without starting it -----------------------------------------------------


def live_sim(**kwargs: object) -> dict[str, object]:
    return {"sim": {"time_scale": 1000.0}, **kwargs}  # a real (sped-up) clock: a live backend


@pytest.mark.parametrize(
    ("config", "backend", "kwargs", "options", "message"),
    [
        (TrainConfig(algo="dqn"), "sim", {}, RayOptions(), "trains ppo, not algo='dqn'"),
        (TrainConfig(log_format="tensorboard"), "sim", {}, RayOptions(), "csv logs only"),
        (TrainConfig(), "sim", {}, RayOptions(functions=("a",)), "apply to a live backend"),
        (TrainConfig(n_envs=2, eval_every=0), "sim", live_sim(), RayOptions(), "needs n_envs=1 and eval_every=0"),
        (TrainConfig(n_envs=1, eval_every=0), "sim", live_sim(), RayOptions(num_env_runners=2), "would all scale the same functions"),
        (TrainConfig(n_envs=1, eval_every=0), "sim", live_sim(), RayOptions(num_env_runners=3, functions=("a", "b")),
         "2 functions .* for 3 env runners"),
        (TrainConfig(), "sim", {}, RayOptions(), "with agents give eval_every=0"),
        (TrainConfig(eval_every=0), "sim", {}, RayOptions(functions=("a",)), "exclude each other"),
    ],
)  # fmt: skip
def test_what_the_rllib_engine_cannot_do_is_refused_before_ray_starts(
    tmp_path: Path, config: TrainConfig, backend: str, kwargs: dict[str, object], options: RayOptions, message: str
) -> None:
    pytest.importorskip("ray")
    from dataclasses import replace

    from faastrain_async.training.rllib import train_rllib

    agents = ("fn-a", "fn-b") if "agents" in message or "exclude" in message else ()
    with pytest.raises(ConfigError, match=message):
        train_rllib(replace(config, save=tmp_path / "m"), backend, kwargs, options, agents=agents)
    assert not (tmp_path / "m").exists()  # refused before any output


def test_training_refuses_a_save_path_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from faastrain_async.training.rllib import train_rllib

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not an RLlib checkpoint"):
        train_rllib(TrainConfig(save=tmp_path), "sim", {}, RayOptions())


# -- with a Ray node on this machine ---------------------------------------------------


def test_train_on_a_local_ray_node_then_evaluate_the_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ray")
    from faastrain_async.cli.main import main

    save = tmp_path / "ppo"
    argv = ["train", "--engine", "rllib", "--num-env-runners", "1", "--n-envs", "2", "--timesteps", "1024",
            "--eval-every", "512", "--eval-episodes", "1", "--checkpoint-every", "1024", "--save", str(save), *ENV_ARGS]  # fmt: skip
    assert main(argv) == 0
    meta = json.loads((save / "faastrain.json").read_text())
    assert meta["engine"] == "rllib" and meta["algo"] == "ppo" and meta["timesteps"] >= 1024
    assert meta["features"] == {"version": 1, "history": 2}
    assert meta["env"]["episode_steps"] == 8 and meta["env"]["reward"]["preset"] == "normalized"
    (runner,) = meta["ray"]["env_runners"]
    assert runner["index"] == 1 and runner["pid"] != os.getpid()  # an actor, not the driver
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):  # its node (a raylet of the run's own) is gone
        assert psutil.Process(runner["ppid"]).status() == psutil.STATUS_ZOMBIE
    progress = (tmp_path / "ppo-logs" / "progress.csv").read_text().splitlines()
    assert progress[0].startswith("iteration,timesteps") and len(progress) == 3  # 2 iterations of 512 steps
    assert len((tmp_path / "ppo-logs" / "eval.csv").read_text().splitlines()) == 3
    assert (tmp_path / "ppo-best" / "faastrain.json").is_file()
    assert (tmp_path / "ppo-checkpoints" / "1024" / "rllib_checkpoint.json").is_file()
    capsys.readouterr()

    out = tmp_path / "eval"
    ev = ["evaluate", "--policies", f"hpa,rllib:{save}", "--seeds", "5", "--episodes", "2", "--out", str(out),
          "--quiet", "--no-plots", *ENV_ARGS]  # fmt: skip
    assert main(ev) == 0
    first = (out / "episodes.csv").read_text()
    assert f"rllib:{save}" in first
    assert main(ev) == 0
    assert (out / "episodes.csv").read_text() == first  # deterministic: the same numbers

    policy = make_policy(f"rllib:{save},deterministic=0", EnvSettings(episode_steps=8))
    x = np.array([0.5, 100.0, 60.0, 2.0, 0.6, 0.4])
    draws = []
    for _ in range(2):
        policy.reset(seed=3)
        draws.append([policy.act(x, {}) for _ in range(20)])
    assert draws[0] == draws[1] and all(0 <= a < 11 for a in draws[0])  # sampled, and seeded


def test_multi_agent_training_gives_each_agent_a_module_that_acts_in_the_single_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ray")
    pytest.importorskip("pettingzoo")
    from faastrain_async.cli.main import main

    save = tmp_path / "multi"
    argv = ["train", "--engine", "rllib", "--agents", "fn-a,fn-b", "--multi", "cores=2", "--n-envs", "1",
            "--timesteps", "512", "--eval-every", "0", "--save", str(save), *ENV_ARGS]  # fmt: skip
    assert main(argv) == 0
    meta = json.loads((save / "faastrain.json").read_text())
    assert meta["multi"] == {"agents": ["fn-a", "fn-b"], "shared_policy": False,
                             "env": {"profiles": "sine:period=300,low=2,high=30", "cores": 2}}  # fmt: skip
    modules = save / "learner_group" / "learner" / "rl_module"
    assert {p.name for p in modules.iterdir() if p.is_dir()} == {"fn-a", "fn-b"}
    capsys.readouterr()

    out = tmp_path / "eval"
    ev = ["evaluate", "--policies", f"rllib:{save},module=fn-b", "--seeds", "5", "--episodes", "1", "--out", str(out),
          "--quiet", "--no-plots", *ENV_ARGS]  # fmt: skip
    assert main(ev) == 0 and f"module=fn-b" in (out / "episodes.csv").read_text()
    with pytest.raises(ConfigError, match="has no module 'default_policy'; its modules: fn-a, fn-b"):
        make_policy(f"rllib:{save}", EnvSettings())


# -- slow: live functions, a cluster of two nodes -------------------------------------


@pytest.mark.slow
def test_each_env_runner_scales_its_own_function_of_a_local_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import urllib.request

    from faastrain_async.cli.main import main
    from faastrain_async.cli.run import attach_local_cluster

    state = str(tmp_path / "state")
    up = ["local", "up", "--state-dir", state, "--detach", "--function", "fa=sleep", "--function", "fb=sleep",
          "--api-port", "0", "--gateway-port", "0", "--prometheus-port", "0", "--scrape-interval", "0.5"]  # fmt: skip
    envs: list[object] = []
    try:
        assert main(up) == 0, capsys.readouterr()
        kube = {"function": "fa", "ingest_timeout": 10.0}
        assert attach_local_cluster(kube, state)
        config = {"backend": "kubernetes", "history": 2, "functions": ["fa", "fb"], "agents": [],
                  "env": {"kubernetes": kube, "profile": "constant:rate=2", "interval": 2.0, "settle_timeout": 30.0}}  # fmt: skip

        class Context(dict):  # type: ignore[type-arg]
            def __init__(self, worker_index: int) -> None:
                super().__init__(config)
                self.worker_index = worker_index

        for index, (seed, up_by) in enumerate([(0, 2), (1, 1)], start=1):
            env = runner_env(Context(index))
            envs.append(env)
            env.reset(seed=seed)
            _, _, _, _, info = env.step(5 + up_by)  # delta actions: 5 is "hold"
            assert info["settled"] and info["ready"] == 1 + up_by
        with urllib.request.urlopen(f"{kube['gateway_url']}/system/functions", timeout=10) as response:
            ready = {f["name"]: f["availableReplicas"] for f in json.loads(response.read())}
        assert ready == {"fa": 3, "fb": 2}  # runner 1 scaled fa, runner 2 fb, and neither the other
    finally:
        for env in envs:
            env.close()  # type: ignore[attr-defined]
        assert main(["local", "down", "--state-dir", state]) == 0


# -- slow: a cluster of two nodes ------------------------------------------------------


@pytest.fixture
def two_nodes() -> Iterator[tuple[RayNode, RayNode]]:
    """A head that offers no CPU and a second node with two, on this machine; stopped
    afterwards, also when the test fails, and checked to leave no process behind."""
    pytest.importorskip("ray")
    pytest.importorskip("psutil")
    from faastrain_async.training.ray_node import RayNode

    nodes = [RayNode(num_cpus=0)]
    handles: list[object] = []
    try:
        nodes.append(RayNode(head_address=nodes[0].start(), num_cpus=2))
        nodes[1].start()
        yield nodes[0], nodes[1]
    finally:
        handles = watch([n.pgid for n in nodes if n.pgid])
        temp_dirs = [n.temp_dir for n in nodes if n.temp_dir is not None]
        for node in reversed(nodes):
            node.stop()
        assert running(handles) == []
        assert not any(d.exists() for d in temp_dirs)


@pytest.mark.slow
def test_training_places_env_runners_on_the_second_node(two_nodes: tuple[RayNode, RayNode], tmp_path: Path) -> None:
    head, worker = two_nodes
    save = tmp_path / "ppo"
    argv = [sys.executable, "-m", "faastrain_async.cli.main", "train", "--engine", "rllib", "--ray-address", str(head.address),
            "--num-env-runners", "2", "--n-envs", "1", "--timesteps", "1024", "--eval-every", "0", "--save", str(save), *ENV_ARGS]  # fmt: skip
    # The driver joins with the nodes' token authentication (Ray reads the mode on import).
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env={**os.environ, "RAY_AUTH_MODE": "token"})
    assert done.returncode == 0, done.stderr[-3000:]
    progress = (tmp_path / "ppo-logs" / "progress.csv").read_text().splitlines()
    assert len(progress) == 3  # two iterations of 2 env runners x 256 steps
    runners = json.loads((save / "faastrain.json").read_text())["ray"]["env_runners"]
    assert sorted(r["index"] for r in runners) == [1, 2]
    # Both env runners were started by the second node's raylet (a process of that node), not the head's.
    (raylet,) = {r["ppid"] for r in runners}
    assert raylet in node_processes(worker.pgid) and raylet not in node_processes(head.pgid)
    assert len({r["node_id"] for r in runners}) == 1 and len({r["pid"] for r in runners}) == 2


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_the_runs_ray_node_goes_away_when_training_is_stopped(sig: signal.Signals, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    psutil = pytest.importorskip("psutil")
    save = tmp_path / "ppo"
    argv = [sys.executable, "-m", "faastrain_async.cli.main", "train", "--engine", "rllib", "--num-env-runners", "1",
            "--timesteps", "100000000", "--eval-every", "0", "--save", str(save), *ENV_ARGS]  # fmt: skip
    owner = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        progress = tmp_path / "ppo-logs" / "progress.csv"
        deadline = time.monotonic() + 300
        while not (progress.is_file() and len(progress.read_text().splitlines()) > 1):  # training is under way
            assert owner.poll() is None and time.monotonic() < deadline, owner.stderr.read() if owner.stderr else ""
            time.sleep(0.5)
        (supervisor,) = [c for c in psutil.Process(owner.pid).children() if "faastrain_async.training.ray_node" in c.cmdline()]
        (node,) = supervisor.children()  # ray start, leader of the node's process group
        temp_dir = Path(supervisor.cmdline()[4])
        handles = watch([node.pid])
        assert len(running(handles)) >= 4  # GCS, raylet, agents, the env runner
    finally:
        owner.send_signal(sig)
        _, err = owner.communicate(timeout=120)
    deadline = time.monotonic() + 60
    while (running(handles) or temp_dir.exists()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert running(handles) == [] and not temp_dir.exists()
    if sig == signal.SIGTERM:  # the command line's own stop: what was learnt is kept, marked
        assert owner.returncode == 128 + signal.SIGTERM and "interrupted (SIGTERM)" in err
        meta = json.loads((save / "faastrain.json").read_text())
        assert meta["interrupted"] is True and meta["timesteps"] >= 256
