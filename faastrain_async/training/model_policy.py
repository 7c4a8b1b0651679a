"""A trained Stable-Baselines3 model as a policy: ``model:PATH`` (or ``model:path=PATH``).

``PATH`` is the ``.zip`` that ``faastrain train --save`` wrote (the suffix may be left out);
the ``.json`` beside it records the algorithm and the feature encoding. Without that file,
give ``algo=ppo|dqn|recurrent-ppo`` (and ``history=N`` if it was not 2). Actions are the
model's deterministic choice; ``deterministic=0`` samples instead (seeded by ``reset``).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from faastrain_async.config import EnvSettings
from faastrain_async.env.actions import action_count
from faastrain_async.errors import ConfigError
from faastrain_async.logger import get_logger
from faastrain_async.policies.base import no_more
from faastrain_async.training.features import FEATURES_VERSION, FeatureEncoder

#: algorithm name -> (module, class) in the ``rl`` extra.
ALGORITHMS: dict[str, tuple[str, str]] = {
    "ppo": ("stable_baselines3", "PPO"),
    "dqn": ("stable_baselines3", "DQN"),
    "recurrent-ppo": ("sb3_contrib", "RecurrentPPO"),
}
log = get_logger(__name__)

RL_EXTRA_HINT = "install the rl extra: pip install 'faastrain[rl]' (CPU PyTorch: pip install torch==2.13.0)"


def algorithm_class(algo: str) -> Any:
    """The SB3 class of ``algo``; a clear error when the name or the ``rl`` extra is missing."""
    if algo not in ALGORITHMS:
        raise ConfigError(f"algo={algo!r} is not known; known: {', '.join(ALGORITHMS)}")
    module, cls = ALGORITHMS[algo]
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as e:
        raise ConfigError(f"algo {algo} needs {module} ({e.name} is missing); {RL_EXTRA_HINT}") from e


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """The model's ``.zip`` and its ``.json`` metadata, from a path with or without ``.zip``."""
    base = Path(path)
    if base.suffix == ".zip":
        base = base.with_suffix("")
    return base.with_name(base.name + ".zip"), base.with_name(base.name + ".json")


def read_meta(meta_path: Path, settings: EnvSettings, model: Path) -> dict[str, Any]:
    """The metadata ``faastrain train`` wrote beside ``model`` ({} when there is none), checked
    against this version's feature encoding; a warning when ``settings`` differ from the training env's."""
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    features = meta.get("features", {})
    if features.get("version", FEATURES_VERSION) != FEATURES_VERSION:
        raise ConfigError(f"model {model} uses feature encoding v{features['version']}; this version reads v{FEATURES_VERSION}")
    trained = meta.get("env", {})
    observation = trained.get("observation", "default")
    if observation != settings.observation:
        # The model's input is the encoding of that observation: another one cannot be fed to it.
        raise ConfigError(f"model {model} was trained with observation={observation!r}; evaluate it on such an env "
                          f"(observation={observation!r}, on the command line --observation {observation})")  # fmt: skip
    differ = {
        k: (trained[k], getattr(settings, k))
        for k in ("interval", "min_replicas", "max_replicas")
        if k in trained and trained[k] != getattr(settings, k)
    }
    if differ:
        # Allowed (evaluating elsewhere is the point), but the features' scales shift.
        log.warning("model trained on other env settings", model=str(model), differ=differ)
    return meta


def saved_policy_options(options: dict[str, str], spec: str, *others: str) -> tuple[str, int | None, bool]:
    """The options every saved-model spec takes: the path, ``history`` and ``deterministic``
    (``others``: the ones the caller already took, named in the error for an unknown one)."""
    path = options.pop("value", None) or options.pop("path", None)
    if not path:
        raise ConfigError(f"policy {spec} needs the saved model's path: {spec}:PATH or {spec}:path=PATH")
    history_text = options.pop("history", None)
    try:
        history = int(history_text) if history_text is not None else None
    except ValueError:
        raise ConfigError(f"policy {spec}: history={history_text!r} is not an integer") from None
    det_text = options.pop("deterministic", "1").strip().lower()
    if det_text not in ("0", "1", "true", "false"):
        raise ConfigError(f"policy {spec}: deterministic={det_text!r}; allowed: 0, 1, true, false")
    no_more(options, spec, ", ".join(("path", *others, "history", "deterministic")))
    return path, history, det_text in ("1", "true")


class ModelPolicy:
    """Acts with a trained model on the :mod:`~faastrain_async.training.features` encoding."""

    name = "model"

    def __init__(
        self, settings: EnvSettings, model: Any, *, algo: str, history: int = 2, deterministic: bool = True, name: str = "model"
    ) -> None:
        n = getattr(model.action_space, "n", None)
        if n != action_count(settings):
            raise ConfigError(
                f"the model acts in Discrete({n}) but this env's action space is Discrete({action_count(settings)}) "
                f"(action_mode={settings.action_mode}, max_delta={settings.max_delta}); evaluate it on the env it was trained for"
            )
        self.settings = settings
        self.model = model
        self.algo = algo
        self.deterministic = deterministic
        self.encoder = FeatureEncoder(settings, history)
        self.name = name
        self.reset()

    @classmethod
    def load(
        cls, settings: EnvSettings, path: str | Path, *, algo: str | None = None, history: int | None = None, deterministic: bool = True
    ) -> ModelPolicy:
        """Load the model saved at ``path`` (see the module docstring)."""
        zip_path, meta_path = model_paths(path)
        if not zip_path.is_file():
            raise ConfigError(f"model file {zip_path} does not exist (give the path `faastrain train --save` wrote)")
        meta = read_meta(meta_path, settings, zip_path)
        algo = algo or meta.get("algo")
        if algo is None:
            raise ConfigError(f"{meta_path} is missing, so the algorithm is unknown: add algo=ppo|dqn|recurrent-ppo to the spec")
        model = algorithm_class(algo).load(str(zip_path), device="cpu")
        history = history or int(meta.get("features", {}).get("history", 2))
        return cls(settings, model, algo=algo, history=history, deterministic=deterministic, name=f"model:{zip_path.name}")

    @classmethod
    def from_options(cls, settings: EnvSettings, options: dict[str, str]) -> ModelPolicy:
        algo = options.pop("algo", None)
        path, history, deterministic = saved_policy_options(options, "model", "algo")
        return cls.load(settings, path, algo=algo, history=history, deterministic=deterministic)

    def reset(self, seed: int | None = None) -> None:
        self.encoder.reset()
        self._state: Any = None  # the LSTM state of a recurrent model
        self._start = True
        if seed is not None and not self.deterministic:
            self.model.set_random_seed(seed)  # only sampling draws; a deterministic policy needs none

    def act(self, obs: np.ndarray, info: Mapping[str, Any]) -> int:
        x = self.encoder(obs, info)
        if self.algo == "recurrent-ppo":
            action, self._state = self.model.predict(
                x, state=self._state, episode_start=np.array([self._start]), deterministic=self.deterministic
            )
        else:
            action, _ = self.model.predict(x, deterministic=self.deterministic)
        self._start = False
        return int(np.asarray(action).reshape(-1)[0])
