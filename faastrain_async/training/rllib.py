"""Training with Ray RLlib, on this machine or on a Ray cluster (the ``ray`` extra, imported lazily).

:func:`train_rllib` trains PPO on RLlib's env runners: Ray actors, each stepping ``n_envs``
copies of the env, on whatever nodes the Ray cluster has. With no env runner the driver
samples itself. The env runners build their envs from ``env_config`` alone (the backend
name, the env's keyword arguments, the feature history and, on a live backend, the
functions), so every setting reaches every node; observations are the
:mod:`~faastrain_async.training.features` encoding that :class:`ModelPolicy` (and so
``rllib:PATH``) uses.

On a live backend each env runner scales its own function: env runner ``i`` (1, 2, ...)
gets ``functions[i - 1]`` and one env, since envs scaling one function would fight over it.
Without ``functions`` a single env runner (or the driver) scales the function the
backend's settings name.

With ``agents`` every env is the multi-agent env of those functions
(:mod:`~faastrain_async.training.rllib_multi`), with a module per agent (named after it) or
one module all agents share; each module acts in the single env as ``rllib:PATH,module=NAME``.

``address`` joins a running Ray cluster (``ray start --head`` on one machine, a KubeRay
RayCluster; see docs/scale.md), which must have a CPU per env runner; without it a Ray node
is started on this machine for the run (:class:`~faastrain_async.training.ray_node.RayNode`:
stopped afterwards, also when this process is killed). Ray reads ``RAY_AUTH_MODE`` when it
is imported: a driver joining a cluster with token authentication needs ``RAY_AUTH_MODE=token``
in its environment and the cluster's token; the node started here takes the driver's mode.

The run leaves ``<save>/`` (RLlib's checkpoint plus ``faastrain.json``), ``<save>-best/``
and ``<save>-checkpoints/<timesteps>/`` when asked, and ``<save>-logs/progress.csv`` (a row
per training iteration) and ``eval.csv``.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faastrain_async.config import EnvSettings, dns_label
from faastrain_async.env.gym_env import CALL_MARGIN, FaaSEnv
from faastrain_async.errors import ConfigError
from faastrain_async.logger import get_logger
from faastrain_async.outputs import output_folder, writing
from faastrain_async.policies import make_policy
from faastrain_async.training.features import FeatureWrapper
from faastrain_async.training.model_policy import ModelPolicy
from faastrain_async.training.periodic import PeriodicEvaluation
from faastrain_async.training.ray_node import RayNode
from faastrain_async.training.rllib_policy import META_FILE, RAY_EXTRA_HINT, RLModuleModel
from faastrain_async.training.trainer import TrainConfig, TrainResult, write_meta

log = get_logger(__name__)

#: Algorithms this engine trains.
RLLIB_ALGORITHMS = ("ppo",)
#: The name :func:`runner_env` is registered under in Ray's registry.
ENV_NAME = "faastrain"
#: Keywords of the multi-agent env beyond the single env's settings (recorded in the metadata).
MULTI_KEYS = ("profiles", "cores", "observe_free_cores", "cooperative")
#: Env steps each env collects per training iteration (SB3's ``n_steps`` in the other engine).
ROLLOUT_STEPS = 256


@dataclass(frozen=True)
class RayOptions:
    """Where RLlib runs and how many env runners it uses."""

    #: A running Ray cluster to join (``HOST:PORT`` of its head, or ``auto``); None: start one here.
    address: str | None = None
    #: Env runners (Ray actors that step the envs); None: 0 (the driver samples) on the
    #: simulator, one per function on a live backend.
    num_env_runners: int | None = None
    #: Live backends: one function per env runner.
    functions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            raise ConfigError(f"ray address={self.address!r} must be HOST:PORT of a Ray head, or 'auto'")
        if self.num_env_runners is not None and (not isinstance(self.num_env_runners, int) or self.num_env_runners < 0):
            raise ConfigError(f"num_env_runners={self.num_env_runners!r} must be an integer >= 0")
        for function in self.functions:
            dns_label("function", function)
        if len(set(self.functions)) != len(self.functions):
            raise ConfigError(f"functions={','.join(self.functions)} lists a function twice; each env runner needs its own")

    def runners(self, live: bool) -> int:
        """The number of env runners for a live backend or the simulator."""
        if self.num_env_runners is not None:
            return self.num_env_runners
        return len(self.functions) if live and self.functions else 0


def runner_env_kwargs(env_config: Mapping[str, Any], worker_index: int) -> dict[str, Any]:
    """The env keyword arguments of env runner ``worker_index`` (0: the driver's own)."""
    kwargs = dict(env_config["env"])
    functions = env_config.get("functions") or ()
    if functions and env_config["backend"] != "sim":  # on the simulator they are refused (_check)
        kwargs["kubernetes"] = {**kwargs.get("kubernetes", {}), "function": functions[max(worker_index, 1) - 1]}
    return kwargs


def runner_env(env_config: Any) -> Any:
    """The env an env runner steps: RLlib calls this with the ``env_config`` (an ``EnvContext``
    carrying the runner's ``worker_index``). With ``agents``, the multi-agent env."""
    kwargs = runner_env_kwargs(env_config, getattr(env_config, "worker_index", 0))
    if env_config.get("agents"):
        from faastrain_async.multi import parallel_env
        from faastrain_async.training.rllib_multi import MultiAgentFeatureEnv

        return MultiAgentFeatureEnv(parallel_env(functions=env_config["agents"], backend=env_config["backend"], **kwargs), env_config["history"])
    env = FaaSEnv(env_config["backend"], **kwargs)
    return FeatureWrapper(env, env.env.settings, env_config["history"])


@dataclass(frozen=True)
class EnvProbe:
    """What the driver needs to know of the env the runners build (made once, never stepped)."""

    settings: EnvSettings
    virtual: bool
    #: The time limit of one step.
    call_timeout: float
    backend: str

    @classmethod
    def of(cls, env_config: Mapping[str, Any]) -> EnvProbe:
        env = runner_env({**env_config, "history": 1})
        try:
            core = env.env.core if env_config.get("agents") else env.env.env
            timeout = core.settings.settle_timeout + core.settings.interval + CALL_MARGIN
            return cls(core.settings, core.virtual, timeout, env_config["backend"])
        finally:
            env.close()


def _where(runner: Any) -> dict[str, Any]:
    """Where an env runner runs (called inside it); ``ppid`` is its node's raylet."""
    import ray

    return {"index": runner.worker_index, "node_id": ray.get_runtime_context().get_node_id(),
            "hostname": socket.gethostname(), "pid": os.getpid(), "ppid": os.getppid()}  # fmt: skip


def _check(config: TrainConfig, options: RayOptions, probe: EnvProbe, agents: Sequence[str]) -> int:
    """Refuse what this engine cannot do with the probed env; the number of env runners."""
    if config.algo not in RLLIB_ALGORITHMS:
        raise ConfigError(f"the rllib engine trains {', '.join(RLLIB_ALGORITHMS)}, not algo={config.algo!r}; use the sb3 engine for it")
    if config.log_format != "csv":
        raise ConfigError(f"the rllib engine writes csv logs only, not log format {config.log_format!r}")
    if agents and config.eval_every:
        raise ConfigError(f"evaluation while training (eval_every={config.eval_every}) is for the single-agent env; "
                          "with agents give eval_every=0 and evaluate each agent's module afterwards")  # fmt: skip
    if agents and options.functions:
        raise ConfigError("functions (one per env runner) and agents (several functions in one env) exclude each other")
    if config.eval_every:
        make_policy(config.baseline, probe.settings)  # a bad spec fails now, not at the first evaluation
    live = not probe.virtual
    runners = options.runners(live)
    if not live:
        if options.functions:
            raise ConfigError(f"functions={','.join(options.functions)} apply to a live backend; the simulator has one function per env")
        return runners
    if config.n_envs > 1 or config.eval_every:
        # Envs of one env runner (and the driver's evaluation envs) would scale the same function.
        raise ConfigError(
            f"training on the live backend {probe.backend!r} needs n_envs=1 and eval_every=0 "
            f"(got {config.n_envs} and {config.eval_every}): each env runner scales its own functions"
        )
    if options.functions and len(options.functions) != max(runners, 1):
        raise ConfigError(
            f"{len(options.functions)} functions ({','.join(options.functions)}) for {runners} env runners: "
            "a live backend needs one function per env runner (the driver's own, with 0 env runners)"
        )
    if runners > 1 and not options.functions:
        raise ConfigError(f"{runners} env runners on a live backend would all scale the same functions; "
                          "give one function per env runner (functions=a,b,...)")  # fmt: skip
    return runners


def _prepare_save(path: Path) -> None:
    """Refuse to train into a directory that holds anything but an earlier checkpoint, or
    into a folder that takes no files."""
    if path.exists() and not (path / "rllib_checkpoint.json").is_file() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"save path {path} exists and is not an RLlib checkpoint; give a new or empty directory")
    output_folder(path.parent)


def _save(algo: Any, path: Path) -> None:
    """Write a checkpoint to ``path``, replacing an earlier one there."""
    with writing(path):
        if (path / "rllib_checkpoint.json").is_file():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        algo.save_to_path(str(path.resolve()))


def _connect(ray: Any, address: str | None, runners: int, worker_setup: Callable[[], None] | None, stack: ExitStack) -> None:
    """Join the cluster at ``address``, or start a node here (stopped by ``stack``); check
    that the cluster has a CPU per env runner."""
    if address is None:
        # The node authenticates as this driver does: Ray read RAY_AUTH_MODE when it was
        # imported, and has no public call that tells the mode it took.
        from ray._private.authentication.authentication_utils import is_token_auth_enabled

        auth_mode = "token" if is_token_auth_enabled() else "disabled"
        address = stack.enter_context(RayNode(num_cpus=max(os.cpu_count() or 1, runners), auth_mode=auth_mode)).address
    runtime_env = {"worker_process_setup_hook": worker_setup} if worker_setup else None
    # Ray's driver installs a SIGTERM handler that aborts the process; keep the caller's
    # (the command line's turns SIGTERM into KeyboardInterrupt: the model is saved, marked).
    handler = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    try:
        ray.init(address=address, runtime_env=runtime_env, configure_logging=False)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise ConfigError(f"could not join the Ray cluster at {address!r}: {e}") from e
    finally:
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)
    stack.callback(ray.shutdown)
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    if runners > cpus:
        raise ConfigError(f"the Ray cluster at {address} has {cpus:g} CPUs and {runners} env runners need one each; "
                          "add nodes or lower num_env_runners")  # fmt: skip


def _algorithm_config(config: TrainConfig, runners: int, env_config: dict[str, Any], sample_timeout: float) -> Any:
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    batch = ROLLOUT_STEPS * config.n_envs * max(runners, 1)
    algo = (
        PPOConfig()
        .environment(env=ENV_NAME, env_config=env_config)
        .env_runners(num_env_runners=runners, num_envs_per_env_runner=config.n_envs, rollout_fragment_length="auto",
                     sample_timeout_s=sample_timeout)  # fmt: skip
        # The other engine's PPO: the same rollout size, minibatch, epochs, GAE and entropy bonus.
        .training(lr=config.learning_rate, gamma=config.gamma, lambda_=0.95, entropy_coeff=0.01,
                  train_batch_size_per_learner=batch, minibatch_size=min(256, batch), num_epochs=10)  # fmt: skip
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=list(config.net), fcnet_activation="tanh"))
        .debugging(seed=config.seed)
    )
    agents = env_config.get("agents")
    if agents:
        from faastrain_async.training.rllib_multi import SHARED_MODULE, own_module, shared_module

        shared = env_config["shared"]
        algo.multi_agent(policies={SHARED_MODULE} if shared else set(agents), policy_mapping_fn=shared_module if shared else own_module)
    return algo


def train_rllib(
    config: TrainConfig,
    backend: str,
    env_kwargs: Mapping[str, Any],
    options: RayOptions = RayOptions(),
    *,
    agents: Sequence[str] = (),
    shared_policy: bool = False,
    worker_setup: Callable[[], None] | None = None,
) -> TrainResult:
    """Train ``config.algo`` with RLlib on envs ``FaaSEnv(backend, **env_kwargs)`` (see the module
    docstring). With ``agents``, on the multi-agent env of those functions
    (``faastrain_async.multi.parallel_env(functions=agents, backend=backend, **env_kwargs)``):
    a module per agent, or one for all with ``shared_policy``. ``worker_setup`` runs first in
    every Ray worker process (e.g. to set up logging)."""
    try:
        import ray
        import torch
    except ImportError as e:
        raise ConfigError(f"the rllib engine needs the ray extra ({e.name} is missing); {RAY_EXTRA_HINT}") from e

    save = Path(config.save)
    kwargs = dict(env_kwargs)
    env_config: dict[str, Any] = {"backend": backend, "env": kwargs, "history": config.history, "functions": list(options.functions),
                                  "agents": list(agents), "shared": shared_policy}  # fmt: skip
    probe = EnvProbe.of(env_config)
    runners = _check(config, options, probe, agents)
    _prepare_save(save)
    torch.set_num_threads(1)  # as the other engine: small networks gain nothing from more threads
    with ExitStack() as stack:
        _connect(ray, options.address, runners, worker_setup, stack)
        from ray.tune.registry import register_env

        register_env(ENV_NAME, runner_env)
        # A bound on one env runner's sampling call: each of its steps has its own time limit.
        sample_timeout = ROLLOUT_STEPS * config.n_envs * probe.call_timeout
        algo = _algorithm_config(config, runners, env_config, sample_timeout).build_algo()
        stack.callback(algo.stop)
        placement = algo.env_runner_group.foreach_env_runner(_where, local_env_runner=runners == 0, timeout_seconds=120)
        for where in placement:
            if not probe.virtual:
                where["function"] = runner_env_kwargs(env_config, where["index"]).get("kubernetes", {}).get("function")
        log.info("env runners", runners=placement)
        run = _Run(config, algo, probe.settings, lambda: FaaSEnv(backend, **kwargs), save)
        interrupted: KeyboardInterrupt | None = None
        try:
            run.train()
        except KeyboardInterrupt as stop:
            interrupted = stop  # keep what was learnt: saved below, marked as interrupted
        _save(algo, save)
        meta: dict[str, Any] = {"engine": "rllib", "timesteps": run.timesteps, "evaluations": run.evaluation.rows,
                                "ray": {"address": options.address, "num_env_runners": runners, "env_runners": placement}}  # fmt: skip
        if agents:
            meta["multi"] = {"agents": list(agents), "shared_policy": shared_policy, "env": {k: v for k, v in kwargs.items() if k in MULTI_KEYS}}
        if interrupted is not None:
            meta["interrupted"] = True
        write_meta(save / META_FILE, config, probe.settings, meta)
        if interrupted is not None:
            raise interrupted
    return TrainResult(save, save / META_FILE, run.evaluation.rows)


class _Run:
    """The training loop: iterations until ``config.timesteps`` env steps, with its logs,
    evaluations and checkpoints."""

    def __init__(self, config: TrainConfig, algo: Any, settings: EnvSettings, make_env: Callable[[], FaaSEnv], save: Path) -> None:
        self.config = config
        self.algo = algo
        self.settings = settings
        self.save = save
        self.logs = output_folder(save.with_name(save.name + "-logs"))
        self.evaluation = PeriodicEvaluation(config, make_env, self.logs)
        self.timesteps = 0

    def train(self) -> None:
        from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, EPISODE_RETURN_MEAN, NUM_ENV_STEPS_SAMPLED_LIFETIME

        c = self.config
        next_checkpoint = c.checkpoint_every
        started = time.perf_counter()
        path = self.logs / "progress.csv"
        with writing(path):
            f = path.open("w", newline="")
        with f:
            progress = csv.DictWriter(f, fieldnames=["iteration", "timesteps", "episode_return_mean", "seconds", "env_steps_per_s"])
            while self.timesteps < c.timesteps:
                result = self.algo.train()
                sampled = result[ENV_RUNNER_RESULTS]
                self.timesteps = int(sampled[NUM_ENV_STEPS_SAMPLED_LIFETIME])
                seconds = time.perf_counter() - started
                row = {"iteration": result["training_iteration"], "timesteps": self.timesteps,
                       "episode_return_mean": sampled.get(EPISODE_RETURN_MEAN, float("nan")),
                       "seconds": round(seconds, 3), "env_steps_per_s": round(self.timesteps / seconds, 1)}  # fmt: skip
                with writing(path):
                    if f.tell() == 0:
                        progress.writeheader()
                    progress.writerow(row)
                    f.flush()
                log.info("iteration", **row)
                if self.evaluation.due(self.timesteps):
                    self.evaluate()
                if c.checkpoint_every and self.timesteps >= next_checkpoint:
                    while next_checkpoint <= self.timesteps:
                        next_checkpoint += c.checkpoint_every
                    _save(self.algo, self.save.with_name(self.save.name + "-checkpoints") / str(self.timesteps))
        if self.evaluation.missing_final(self.timesteps):
            self.evaluate()

    def evaluate(self) -> None:
        """Evaluate the model as it is now; keep it as ``<save>-best`` if it is the best so far."""
        c = self.config
        model = ModelPolicy(self.settings, RLModuleModel(self.algo.get_module()), algo=c.algo, history=c.history, name="model")
        row, best = self.evaluation(self.timesteps, model)
        if best:
            path = self.save.with_name(self.save.name + "-best")
            _save(self.algo, path)
            write_meta(path / META_FILE, c, self.settings, {"engine": "rllib", "timesteps": self.timesteps, "eval": row})
