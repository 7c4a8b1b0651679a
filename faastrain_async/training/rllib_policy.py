"""A trained RLlib checkpoint as a policy: ``rllib:PATH`` (or ``rllib:path=PATH``).

``PATH`` is the checkpoint directory that ``faastrain train --engine rllib --save PATH``
wrote; its ``faastrain.json`` records the feature encoding and the env it was trained on.
Only the policy's network is loaded (the RLModule under ``learner_group/learner/rl_module``),
so evaluating needs the ``ray`` extra but no Ray cluster. Actions are the module's
deterministic choice (the most likely action); ``deterministic=0`` samples from its action
distribution instead (seeded by ``reset``). ``module=ID`` picks one agent's module of a
multi-agent checkpoint (default: ``default_policy``).

Ray is imported only when a checkpoint is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from faastrain_async.config import EnvSettings
from faastrain_async.errors import ConfigError
from faastrain_async.training.features import per_step
from faastrain_async.training.model_policy import ModelPolicy, read_meta, saved_policy_options

#: The file beside RLlib's own in a checkpoint directory that ``faastrain train`` writes.
META_FILE = "faastrain.json"
DEFAULT_MODULE = "default_policy"
RAY_EXTRA_HINT = "install the ray extra: pip install 'faastrain[ray]' (CPU PyTorch: pip install torch==2.13.0)"


def module_path(checkpoint: Path, module: str = DEFAULT_MODULE) -> Path:
    """Where an algorithm checkpoint keeps the RLModule ``module``."""
    return checkpoint / "learner_group" / "learner" / "rl_module" / module


class RLModuleModel:
    """An RLlib RLModule behind the ``predict`` call :class:`ModelPolicy` makes of a model."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.action_space = module.action_space
        self._rng = np.random.default_rng()

    def predict(self, x: np.ndarray, *, deterministic: bool = True, **_: Any) -> tuple[int, None]:
        import torch  # installed with the ray extra; imported here so the policy deep-copies

        with torch.no_grad():
            out = self.module.forward_inference({"obs": torch.as_tensor(x, dtype=torch.float32)[None]})
        logits = out["action_dist_inputs"][0].numpy().astype(np.float64)
        if deterministic:
            return int(np.argmax(logits)), None
        p = np.exp(logits - logits.max())
        return int(self._rng.choice(len(p), p=p / p.sum())), None

    def set_random_seed(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)


def load_module(checkpoint: Path, module: str = DEFAULT_MODULE) -> Any:
    """The RLModule ``module`` of the algorithm checkpoint at ``checkpoint``."""
    path = module_path(checkpoint, module)
    if not path.is_dir():
        modules = sorted(p.name for p in path.parent.iterdir() if p.is_dir()) if path.parent.is_dir() else []
        if modules:
            raise ConfigError(f"RLlib checkpoint {checkpoint} has no module {module!r}; its modules: {', '.join(modules)}")
        raise ConfigError(f"{checkpoint} is not an RLlib algorithm checkpoint (no {path.parent.relative_to(checkpoint)}); "
                          "give the directory `faastrain train --engine rllib --save` wrote")  # fmt: skip
    try:
        from ray.rllib.core.rl_module.rl_module import RLModule
    except ImportError as e:
        raise ConfigError(f"an rllib policy needs ray ({e.name} is missing); {RAY_EXTRA_HINT}") from e
    return RLModule.from_checkpoint(str(path.resolve()))  # RLlib reads a relative path as a URI


def rllib_policy(settings: EnvSettings, options: dict[str, str]) -> ModelPolicy:
    """The policy of a ``rllib:`` spec (see the module docstring)."""
    module = options.pop("module", DEFAULT_MODULE)
    path, history, deterministic = saved_policy_options(options, "rllib", "module")
    checkpoint = Path(path)
    if not checkpoint.is_dir():
        raise ConfigError(f"RLlib checkpoint {checkpoint} does not exist (give the directory `faastrain train --engine rllib --save` wrote)")
    meta = read_meta(checkpoint / META_FILE, settings, checkpoint)
    history = history or int(meta.get("features", {}).get("history", 2))
    model = RLModuleModel(load_module(checkpoint, module))
    inputs, expected = model.module.observation_space.shape[0], per_step(settings) * history
    if inputs != expected:
        raise ConfigError(f"module {module!r} of {checkpoint} takes {inputs} inputs, and this env's {history} steps of features "
                          f"are {expected} (a multi-agent module that observed the free cores acts only in that env)")  # fmt: skip
    return ModelPolicy(settings, model, algo=str(meta.get("algo", "ppo")), history=history, deterministic=deterministic,
                       name=f"rllib:{checkpoint.name}")  # fmt: skip
