"""FaaSVectorEnv: thousands of simulated functions in one process, stepped as numpy arrays.

    envs = gymnasium.make_vec("FaaSTrainGym-v1", num_envs=1024, vectorization_mode="vector_entry_point")

The vector entry point of ``FaaSTrainGym-v1``. Every environment is the simulator of
:class:`~faastrain_async.env.async_env.AsyncFaaSEnv` with the same settings, spaces, action
modes and rewards; the batch is stepped by :class:`~faastrain_async.backends.sim.batch.BatchModel`,
which shares the scalar simulator's equations (see its docstring for how the two differ).

## Spaces
``single_action_space`` and ``single_observation_space`` are the scalar env's; the batched
ones have a leading axis of ``num_envs``. ``step`` takes an integer array of shape
``(num_envs,)``.

## Autoreset
``autoreset_mode`` (declared in ``metadata["autoreset_mode"]``): ``NEXT_STEP`` (the default) —
the step after an environment's episode ended resets it (its action is ignored; reward 0,
neither terminated nor truncated); or ``SAME_STEP`` — the step that ends an episode also resets
the environment, returns the reset's observation, and puts the last one in
``info["final_obs"]`` (and that step's info in ``info["final_info"]``; masks ``_final_obs``
and ``_final_info``), as Stable-Baselines3's vectorised envs expect. As in the scalar env, a
reset without a seed continues the environment's world (time goes on, the replicas are scaled
back to ``initial_replicas`` and one window measured; with ``world="new"`` a new world begins
instead, drawn from the batch's generators); ``reset(seed=s)`` starts new worlds
(environment ``i`` from seed ``s + i``; or a list of seeds, one per environment).

## Info
A dict of arrays, one entry per environment: ``step``, ``t_action``, ``t_settled``,
``settle_seconds``, ``settled``, ``delta``, ``requested``, ``target``, ``clamped``, ``applied``,
``ready``, ``replicas``, ``requests``, ``successes``, ``exec_time_missing``, ``p95_exec_s``
(NaN where nothing was served), ``load_intended_rps``, ``load_achieved_rps``,
``metrics_stale`` and ``metrics_delay_seconds`` (always False and 0 here).

## Observation
As the scalar env's: the six columns, and with ``observation="rich"`` the same extra columns
computed by the same code (:mod:`~faastrain_async.env.observations`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from faastrain_async.backends import sim_settings
from faastrain_async.backends.sim.batch import BatchModel, BatchState, BatchWindow
from faastrain_async.config import RewardSettings, SimSettings, check_window_cells, env_settings
from faastrain_async.backends.sim.backend import SimBackend
from faastrain_async.env import rewards, spaces
from faastrain_async.env.async_env import AsyncFaaSEnv, workload_of
from faastrain_async.env.observations import RichColumns
from faastrain_async.errors import ConfigError, ResetNeeded, SettleTimeout
from loadgen.batch import BatchProfiles
from loadgen.profiles import Profile, Workload

#: Most environments one FaaSVectorEnv steps (a bound on memory, about 1 KiB each).
MAX_ENVS = 1 << 22


class FaaSVectorEnv(VectorEnv):  # type: ignore[type-arg]
    """``num_envs`` simulated FaaSTrainGym-v1 environments; see the module docstring."""

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        *,
        backend: str = "sim",
        preset: str | None = None,
        profile: str | Workload | Profile | None = None,
        reward: str | RewardSettings | Mapping[str, Any] | None = None,
        sim: SimSettings | Mapping[str, Any] | None = None,
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        **settings: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or not 1 <= num_envs <= MAX_ENVS:
            raise ConfigError(f"num_envs={num_envs!r} is not valid: must be an integer in [1, {MAX_ENVS}]")
        if backend != "sim":
            raise ConfigError(f"backend={backend!r}: the vector environment simulates; use backend='sim' (or the scalar env)")
        if render_mode is not None:
            raise ConfigError(f"render_mode={render_mode!r} is not supported by the vector environment; use None")
        modes = {m.value: m for m in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)}
        mode = modes.get(autoreset_mode.value if isinstance(autoreset_mode, AutoresetMode) else autoreset_mode)
        if mode is None:
            raise ConfigError(f"autoreset_mode={autoreset_mode!r} is not supported; use one of {', '.join(modes)}")
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        # gymnasium.make_vec passes the registration's time limit: it is the episode length.
        limit = settings.pop("max_episode_steps", None)
        if limit is not None:
            settings.setdefault("episode_steps", limit)
        if reward is not None:
            settings["reward"] = reward
        if profile is not None:
            settings["profile"] = profile if isinstance(profile, str) else profile.spec
        self.settings = env_settings(preset, **settings)
        self.sim = sim_settings(sim)
        check_window_cells(self.settings.interval, self.sim.tick)
        if self.sim.time_scale is not None:
            raise ConfigError(f"sim time_scale={self.sim.time_scale!r}: the vector environment runs on virtual time only")
        self.workload = workload_of(profile if profile is not None else self.settings.profile)
        s = self.settings
        self.num_envs = int(num_envs)
        self.render_mode = None
        self.single_action_space = spaces.action_space(s)
        self.single_observation_space = spaces.observation_space(s)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        # A fixed profile is one for the whole batch; a ranged spec or mix: draws one per world
        # (placeholders until the first reset draws them from the worlds' seeds).
        self.profiles = None if self.workload.fixed else BatchProfiles([self.workload.draw(0)] * self.num_envs)
        self.model = BatchModel(
            self.sim, self.profiles if self.profiles is not None else self.workload.draw(None),
            max_replicas=s.max_replicas, interval=s.interval, settle_timeout=s.settle_timeout,
        )  # fmt: skip
        self.state = BatchState.empty(self.num_envs, s.max_replicas)
        n_actions = int(self.single_action_space.n)
        if s.action_mode == "delta":
            self._deltas = np.arange(n_actions, dtype=np.int64) - s.max_delta
        else:
            self._deltas = np.array([-s.step_size, s.step_size], dtype=np.int64)
        self.target = np.full(self.num_envs, s.initial_replicas, dtype=np.int64)
        self.rich = RichColumns(self.num_envs, s.interval) if s.observation == "rich" else None
        self.steps = np.zeros(self.num_envs, dtype=np.int64)
        self._ended = np.zeros(self.num_envs, dtype=bool)
        self._started = False

    @classmethod
    def like(cls, env: AsyncFaaSEnv, num_envs: int, **kwargs: Any) -> FaaSVectorEnv:
        """``num_envs`` environments with the settings of the simulated ``env``."""
        backend = env.backend
        if not isinstance(backend, SimBackend):
            raise ConfigError(f"only a simulated env has a vector form; this one runs on {env.backend_name!r}")
        s = env.settings
        settings = {f.name: getattr(s, f.name) for f in fields(s) if f.name not in ("reward", "profile")}
        return cls(num_envs, profile=env.workload, reward=s.reward, sim=backend.settings, **settings, **kwargs)

    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start new worlds (from ``seed``), or continue every world with the replicas scaled back."""
        if options:
            raise ConfigError(f"unknown reset option(s) {', '.join(map(repr, options))}; the vector environment takes none")
        if seed is not None or not self._started:
            seeds = self._seeds(seed)
            self.model.seed(seeds)
            worlds = seeds if seeds is not None else np.random.SeedSequence().generate_state(self.num_envs, np.uint64).tolist()
            self._new_worlds(np.arange(self.num_envs), worlds)
            self._started = True
        elif self.settings.world == "new":
            self._new_worlds(np.arange(self.num_envs))
        n = self.num_envs
        self.target[:] = self.settings.initial_replicas
        self.steps[:] = 0
        self._ended[:] = False
        window = self.model.step(self.state, self.target.copy())
        zeros = np.zeros(n, dtype=np.int64)
        return self._observe(window, self.target, None), self._info(window, zeros, self.target, np.zeros(n, dtype=bool), window.settled)

    def _new_worlds(self, rows: np.ndarray, seeds: Sequence[int] | None = None) -> None:
        """Begin new worlds in ``rows``: warm replicas at time 0, and for a ranged spec or
        ``mix:`` each world's profile, drawn from its seed (the scalar env draws the same one
        for the same seed); seeds not given come from the batch's generator."""
        self.state.restart(rows, self.settings.initial_replicas)
        if self.profiles is None:
            return
        if seeds is None:
            seeds = self.model.world_rng.integers(2**63 - 1, size=len(rows)).tolist()
        for i, world in zip(rows.tolist(), seeds):
            self.profiles.replace(i, self.workload.draw(int(world)))

    def _seeds(self, seed: int | Sequence[int] | None) -> list[int] | None:
        """The batch's seeds: ``s, s + 1, ...`` for an integer, or one given per environment."""
        if seed is None:
            return None
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            if seed < 0:
                raise ConfigError(f"seed={seed!r} is not valid: must be an integer >= 0")
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed) if isinstance(seed, Sequence) else None
        if (
            seeds is None or len(seeds) != self.num_envs
            or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 0 for x in seeds)
        ):  # fmt: skip
            raise ConfigError(
                f"seed={seed!r} is not valid: give an integer >= 0 or a list of {self.num_envs} integers >= 0 (one per environment)"
            )
        return [int(x) for x in seeds]

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every environment; see the module docstring for autoreset."""
        if not self._started:
            raise ResetNeeded("call reset() before step()")
        s = self.settings
        a = np.asarray(actions)
        n_actions = len(self._deltas)
        if a.shape != (self.num_envs,) or a.dtype.kind not in "iu":
            raise ConfigError(
                f"actions of shape {a.shape} and dtype {a.dtype} are not valid: "
                f"need an integer array of shape ({self.num_envs},) with values in [0, {n_actions - 1}]"
            )
        if a.size and (a.min() < 0 or a.max() >= n_actions):
            bad = int(a[(a < 0) | (a >= n_actions)][0])
            raise ConfigError(f"action {bad!r} is outside the action space Discrete({n_actions}): expected an integer in [0, {n_actions - 1}]")
        restart = self._ended
        if s.world == "new" and restart.any():
            self._new_worlds(np.nonzero(restart)[0])
        delta = np.where(restart, 0, self._deltas[a])
        requested = self.target + delta
        target = np.clip(requested, s.min_replicas, s.max_replicas)
        target[restart] = s.initial_replicas
        window = self.model.step(self.state, target)
        if s.on_settle_timeout == "raise" and not window.settled.all():
            i = int(np.argmin(window.settled))
            raise SettleTimeout(f"environment {i}: replicas did not settle on {target[i]} within settle_timeout={s.settle_timeout}s")
        clamped = requested != target
        applied = ~clamped & window.settled & (np.abs(window.replicas - target) < 1e-6)
        obs = self._observe(window, target, target != self.target, restart)
        reward = rewards.rewards(obs[:, 1], obs[:, 0], obs[:, 4], obs[:, 5], window.replicas, applied, s)
        self.target = target
        self.steps = np.where(restart, 0, self.steps + 1)
        last = (self.steps >= s.episode_steps) & ~restart
        terminated = last & (s.episode_end == "terminated")
        truncated = (last & ~terminated) | (~window.settled & (s.on_settle_timeout == "truncate") & ~restart)
        reward = np.where(restart, 0.0, reward)
        info = self._info(window, delta, requested, clamped & ~restart, applied)
        if self.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP:
            self._reset_now(terminated | truncated, obs, info)
        else:
            self._ended = terminated | truncated
        return obs, reward, terminated, truncated, info

    def _reset_now(self, ended: np.ndarray, obs: np.ndarray, info: dict[str, Any]) -> None:
        """SAME_STEP: reset the environments whose episode just ended, in place in ``obs`` and
        ``info``; their last observation and info go to ``final_obs`` and ``final_info``."""
        rows = np.nonzero(ended)[0]
        info["final_obs"], info["_final_obs"] = obs.copy(), ended.copy()
        info["final_info"], info["_final_info"] = {k: np.copy(v) for k, v in info.items() if not k.startswith(("final", "_final"))}, ended.copy()
        if not rows.size:
            return
        if self.settings.world == "new":
            self._new_worlds(rows)
        part = self.state.take(rows)
        initial = np.full(rows.size, self.settings.initial_replicas, dtype=np.int64)
        window = self.model.step(part, initial, rows)
        self.state.put(rows, part)
        self.target[rows] = initial
        self.steps[rows] = 0
        obs[rows] = self._observe(window, initial, None, rows=rows)
        zeros = np.zeros(rows.size, dtype=np.int64)
        reset_info = self._info(window, zeros, initial, np.zeros(rows.size, dtype=bool), window.settled, rows)
        for key, value in reset_info.items():
            info[key][rows] = value

    def _observe(
        self, w: BatchWindow, target: np.ndarray, changed: np.ndarray | None, restart: np.ndarray | None = None,
        rows: np.ndarray | slice = slice(None),
    ) -> np.ndarray:  # fmt: skip
        """The observations of the windows ``w`` of environments ``rows``, whose targets are
        ``target``; ``changed`` where a step changed the target, None for resets (``restart``:
        the environments of a step that reset instead)."""
        width = self.single_observation_space.shape[0]
        obs = np.empty((len(w.requests), width), dtype=self.settings.observation_dtype)
        some = w.requests > 0
        obs[:, 0] = np.nan_to_num(w.mean_exec, nan=0.0)  # no request served: 0, as the scalar env
        obs[:, 1] = np.where(some, 100.0 * w.successes / np.where(some, w.requests, 1.0), 100.0)
        obs[:, 2], obs[:, 3], obs[:, 4], obs[:, 5] = w.requests, w.replicas, w.cpu, w.mem
        if self.rich is not None:
            columns = (w.requests, target, w.pending, w.terminating, w.t_action, w.t_settled, w.p95_exec)
            if changed is None:
                obs[:, 6:] = self.rich.start(rows, *columns)
            else:
                obs[:, 6:] = self.rich.add(rows, columns[0], columns[1], changed, *columns[2:])
                if restart is not None and restart.any():
                    again = np.nonzero(restart)[0]
                    obs[again, 6:] = self.rich.start(again, *(np.asarray(c)[again] for c in columns))
        return obs

    def _info(
        self, w: BatchWindow, delta: np.ndarray, requested: np.ndarray, clamped: np.ndarray, applied: np.ndarray,
        rows: np.ndarray | slice = slice(None),
    ) -> dict[str, Any]:
        return {
            "step": self.steps[rows].copy(),
            "t_action": w.t_action,
            "t_settled": w.t_settled,
            "settle_seconds": w.t_settled - w.t_action,
            "settled": w.settled,
            "delta": delta,
            "requested": requested,
            "target": self.target[rows].copy(),
            "clamped": clamped,
            "applied": applied,
            "ready": w.ready,
            "replicas": w.replicas,
            "requests": w.requests,
            "successes": w.successes,
            "exec_time_missing": np.isnan(w.mean_exec),
            "p95_exec_s": w.p95_exec,
            "load_intended_rps": w.intended_rps,
            "load_achieved_rps": w.achieved_rps,
            "metrics_stale": np.zeros(len(w.t_action), dtype=bool),  # a simulator always has its metrics
            "metrics_delay_seconds": np.zeros(len(w.t_action)),
        }
