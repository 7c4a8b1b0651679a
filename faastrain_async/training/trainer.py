"""Training a Stable-Baselines3 agent on the environment (the ``rl`` extra, imported lazily).

``train`` steps ``n_envs`` environments together: on the simulator, the vector simulator
(:class:`~faastrain_async.training.vector.SB3VectorEnv`, all of them as numpy arrays); on a
live backend, copies of the env in a ``DummyVecEnv``, each wrapped in :class:`FeatureWrapper`
and a ``Monitor``. Observations are the :mod:`~faastrain_async.training.features` encoding; rewards are scaled by a running estimate of the return's spread
(``VecNormalize(norm_obs=False)``), which lets one set of hyper-parameters work with the
"seed" reward (thousands a step) and the "normalized" one (below 1). Observations are not
normalised, so a saved model needs nothing but its ``.zip`` and ``.json``.

Every ``eval_every`` timesteps the current model and a baseline policy run on held-out
seeded episodes (:mod:`~faastrain_async.training.periodic`); the results go to the log
(``eval/…``) and to ``eval.csv``, and the best model so far is saved as ``<save>-best``.
Checkpoints go to ``<save>-checkpoints/``, the SB3 logs (CSV, or TensorBoard) to ``<save>-logs/``.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faastrain_async.backends.sim.backend import SimBackend
from faastrain_async.config import EnvSettings
from faastrain_async.env.gym_env import FaaSEnv
from faastrain_async.env.vector_env import FaaSVectorEnv
from faastrain_async.errors import ConfigError
from faastrain_async.outputs import output_folder, write_text, writing
from faastrain_async.policies import make_policy
from faastrain_async.training.features import FEATURES_VERSION, FeatureWrapper
from faastrain_async.training.model_policy import ALGORITHMS, RL_EXTRA_HINT, ModelPolicy, algorithm_class, model_paths
from faastrain_async.training.periodic import PeriodicEvaluation

LOG_FORMATS = ("csv", "tensorboard")


@dataclass(frozen=True)
class TrainConfig:
    """What to train and how; the defaults are the ones docs/results.md reports."""

    algo: str = "ppo"
    timesteps: int = 100_000
    save: Path = Path("runs/model")
    seed: int = 0
    n_envs: int = 4
    #: Feature history (steps the model sees, newest first).
    history: int = 2
    learning_rate: float = 3e-4
    gamma: float = 0.95
    #: Timesteps between evaluations (0: none) and between checkpoints (0: none).
    eval_every: int = 10_000
    checkpoint_every: int = 0
    baseline: str = "hpa"
    #: Evaluation seeds; keep them apart from ``seed`` so evaluation uses held-out worlds.
    eval_seeds: tuple[int, ...] = (1000,)
    eval_episodes: int = 3
    log_format: str = "csv"
    net: tuple[int, ...] = (64, 64)

    def __post_init__(self) -> None:
        if self.algo not in ALGORITHMS:
            raise ConfigError(f"algo={self.algo!r} is not known; known: {', '.join(ALGORITHMS)}")
        for name in ("timesteps", "n_envs", "history", "eval_episodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r} must be an integer >= 1")
        for name in ("eval_every", "checkpoint_every", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name}={value!r} must be an integer >= 0")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate={self.learning_rate!r} must be a finite number > 0")
        if not 0 < self.gamma <= 1:
            raise ConfigError(f"gamma={self.gamma!r} must lie in (0, 1]")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"log format {self.log_format!r} is not valid; allowed: {', '.join(LOG_FORMATS)}")
        if not self.eval_seeds:
            raise ConfigError("eval_seeds must hold at least one seed")


@dataclass
class TrainResult:
    """Where the model went, and each periodic evaluation (mean total reward per episode)."""

    model_path: Path
    meta_path: Path
    evaluations: list[dict[str, float]] = field(default_factory=list)


def _model(config: TrainConfig, env: Any) -> Any:
    cls = algorithm_class(config.algo)
    common = dict(learning_rate=config.learning_rate, gamma=config.gamma, seed=config.seed, device="cpu", verbose=0)
    net = list(config.net)
    if config.algo == "ppo":
        return cls("MlpPolicy", env, n_steps=256, batch_size=256, n_epochs=10, gae_lambda=0.95, ent_coef=0.01,
                   policy_kwargs={"net_arch": net}, **common)  # fmt: skip
    if config.algo == "recurrent-ppo":
        return cls("MlpLstmPolicy", env, n_steps=128, batch_size=128, n_epochs=10, ent_coef=0.01,
                   policy_kwargs={"net_arch": net, "lstm_hidden_size": 64}, **common)  # fmt: skip
    return cls("MlpPolicy", env, buffer_size=50_000, learning_starts=1_000, batch_size=64, train_freq=4,
               target_update_interval=1_000, exploration_fraction=0.3, exploration_final_eps=0.02,
               policy_kwargs={"net_arch": net}, **common)  # fmt: skip


def write_meta(path: Path, config: TrainConfig, s: EnvSettings, extra: dict[str, Any] | None = None) -> None:
    """The metadata of a saved model (the env's settings ``s``): what the policy that loads it and a reader need."""
    meta = {
        "algo": config.algo,
        "features": {"version": FEATURES_VERSION, "history": config.history},
        "env": {**asdict(s), "reward": asdict(s.reward)},
        "train": {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        **(extra or {}),
    }
    write_text(path, json.dumps(meta, indent=2) + "\n")


def train(config: TrainConfig, make_env: Callable[[], FaaSEnv]) -> TrainResult:
    """Train ``config.algo`` on envs from ``make_env``; save the model and return where it is."""
    try:
        import torch
        from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback
        from stable_baselines3.common.logger import configure
        from stable_baselines3.common.monitor import Monitor
        from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    except ImportError as e:
        raise ConfigError(f"training needs the rl extra ({e.name} is missing); {RL_EXTRA_HINT}") from e

    if config.log_format == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("log format tensorboard needs the tensorboard package (pip install tensorboard); or use csv")
    # Small networks gain nothing from more threads, and this keeps runs repeatable.
    torch.set_num_threads(1)
    zip_path, meta_path = model_paths(config.save)
    stem = zip_path.with_suffix("")
    logs = stem.with_name(stem.name + "-logs")
    probe = make_env()
    vec: Any = None
    try:
        settings = probe.env.settings
        if not probe.env.virtual and (config.n_envs > 1 or config.eval_every):
            # Every env made here scales the same function: on a live backend they would fight.
            raise ConfigError(
                f"training on the live backend {probe.env.backend_name!r} needs n_envs=1 and eval_every=0 "
                f"(got {config.n_envs} and {config.eval_every}); train on the simulator and evaluate the model afterwards"
            )
        if config.eval_every:
            make_policy(config.baseline, settings)  # a bad spec fails now, not at the first evaluation
        output_folder(zip_path.parent)  # everything checked: now outputs may be touched

        def one_env() -> Any:
            return Monitor(FeatureWrapper(make_env(), settings, config.history))

        if isinstance(probe.env.backend, SimBackend) and probe.env.virtual:
            from faastrain_async.training.vector import SB3VectorEnv

            vec = SB3VectorEnv(FaaSVectorEnv.like(probe.env, config.n_envs, autoreset_mode="SameStep"), config.history)
        else:
            vec = DummyVecEnv([one_env for _ in range(config.n_envs)])
        vec.seed(config.seed)  # env i starts from world seed seed + i, then its world runs on
        env = VecNormalize(vec, norm_obs=False, norm_reward=True, gamma=config.gamma)
        model = _model(config, env)
        model.set_logger(configure(str(logs), ["csv"] if config.log_format == "csv" else ["csv", "tensorboard"]))
        evaluation = PeriodicEvaluation(config, make_env, logs)
        result = TrainResult(zip_path, meta_path, evaluation.rows)

        class EvaluationCallback(BaseCallback):  # type: ignore[misc]
            """Evaluates the live model against the baseline every ``eval_every`` timesteps."""

            def _on_step(self) -> bool:
                if evaluation.due(self.num_timesteps):
                    run_evaluation(self.num_timesteps, self.logger)
                return True

        def run_evaluation(timesteps: int, logger: Any) -> None:
            live = ModelPolicy(settings, model, algo=config.algo, history=config.history, name="model")
            row, best = evaluation(timesteps, live)
            logger.record("eval/model_reward", row["model_reward"])
            logger.record("eval/baseline_reward", row["baseline_reward"])
            logger.dump(timesteps)
            if best:
                best_zip, best_meta = model_paths(stem.with_name(stem.name + "-best"))
                with writing(best_zip):
                    model.save(str(best_zip))
                write_meta(best_meta, config, settings, {"timesteps": timesteps, "eval": row})

        callbacks: list[Any] = [EvaluationCallback()]
        if config.checkpoint_every:
            every = max(config.checkpoint_every // config.n_envs, 1)
            callbacks.append(CheckpointCallback(every, str(stem.with_name(stem.name + "-checkpoints")), name_prefix=stem.name))
        interrupted: KeyboardInterrupt | None = None
        try:
            model.learn(total_timesteps=config.timesteps, callback=CallbackList(callbacks))
        except KeyboardInterrupt as stop:
            interrupted = stop  # keep what was learnt: saved below, marked as interrupted
        if interrupted is None and evaluation.missing_final(model.num_timesteps):
            run_evaluation(model.num_timesteps, model.logger)
        with writing(zip_path):
            model.save(str(zip_path))
        extra: dict[str, Any] = {"timesteps": int(model.num_timesteps), "evaluations": result.evaluations}
        if interrupted is not None:
            extra["interrupted"] = True
        write_meta(meta_path, config, settings, extra)
        if interrupted is not None:
            raise interrupted
    finally:
        if vec is not None:
            vec.close()
        probe.close()
    return result

