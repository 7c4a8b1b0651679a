"""AsyncFaaSEnv: the environment for async agents, and the core the sync adapter forwards to.

## Description
An agent scales one serverless function's replicas. Each step applies the scaling, waits
until it has really settled (ready == target, nothing pending or terminating), measures the
function over ``interval`` seconds that start after settling, and answers with what that
window and the replicas that held during it show.

## Action space
``action_mode="delta"`` (default): ``Discrete(2·max_delta + 1)``; action ``a`` scales by
``a − max_delta`` replicas (``max_delta=5``: −5..+5, FaaSTrainGym's code).
``action_mode="updown"``: ``Discrete(2)``; 0 scales down, 1 scales up, by ``step_size``
(FaaSTrainGym's README). The target is clamped to ``[min_replicas, max_replicas]`` ([1, 10]).

## Observation space
``Box(6,)``, float32 (``observation_dtype="float64"`` for float64): mean execution time (s), throughput (% of requests that succeeded),
requests in the window, ready replicas (time-weighted over the window), mean CPU and mean
memory use of the pods as fractions of their requests. See ``spaces.OBSERVATION_FIELDS``.
``observation="rich"`` appends recent request rates, the target, pending and terminating
replicas, the last settle time, the time since the last scaling and the p95 execution time
(``spaces.RICH_FIELDS``, computed in ``observations``).

## Rewards
``reward="seed"`` (FaaSTrainGym's, up to about 7,500 a step, −1000 when the scaling could not
be applied) or ``reward="normalized"`` (in [−1, 0.75]). See ``rewards``.

## Episode end
Truncated after ``episode_steps`` (10) steps (a time limit: the process is continuous), or
at a settle timeout when ``on_settle_timeout="truncate"``. ``episode_end="terminated"``
reports the last step as terminated instead, as FaaSTrainGym and DRe-SCale did.

## Arguments
``backend`` ("sim" or "kubernetes", or a Backend object), ``preset=`` ("faastraingym" or
"drescale": the settings their agents expect; other keywords override it), ``sim=`` / ``kubernetes=``
(backend settings as a mapping or dataclass), ``local_cluster=True`` (kubernetes: start the
bundled local cluster), ``reward=`` (a preset name, a mapping or RewardSettings), and any
field of :class:`~faastrain_async.config.EnvSettings` as a keyword.

## Rendering
The sync adapter :class:`~faastrain_async.env.gym_env.FaaSEnv` renders ``"ansi"`` (a line per
step) and ``"rgb_array"`` (replicas against load so far).

## Reset
``areset(seed=s)`` starts a new world from seed ``s`` (the simulator restarts its clock and
workload). A ``profile`` spec with ranges, choices or ``mix:`` (see loadgen.workload) gives
each seeded episode the concrete profile ``loadgen.profiles.draw_profile(profile, s)``, on
every backend. ``areset()`` without a seed continues the world where it is, with the
replicas scaled back to ``initial_replicas`` (or ``options={"replicas": n}``); with
``world="new"`` it starts a new world from a seed drawn from the env's generator instead
(and so draws a new profile). Both settle and measure one window before answering.

## Version history
* v1: FaaSTrainGym-compatible spaces and reward; settle barrier; windows after settling;
  presets for FaaSTrainGym's and DRe-SCale's agents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium.utils import seeding

from faastrain_async.backends import BACKENDS, make_backend
from faastrain_async.backends.ports import Backend
from faastrain_async.config import RewardSettings, SimSettings, env_settings
from faastrain_async.engine.engine import Engine, StepRecord
from faastrain_async.env import actions, rewards, spaces
from faastrain_async.env.observations import RichColumns
from faastrain_async.errors import ConfigError, EnvClosedError, ResetNeeded
from faastrain_async.logger import get_logger
from loadgen.profiles import Profile, ProfileError, Workload, as_workload

log = get_logger(__name__)

StepResult = tuple[np.ndarray, float, bool, bool, dict[str, Any]]


def check_seed(seed: object, name: str = "seed") -> None:
    """Refuse a seed that is not None or an integer >= 0 (what Gymnasium's seeding takes)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ConfigError(f"{name}={seed!r} is not valid: must be an integer >= 0 or None")


def workload_of(spec: str | Workload | Profile) -> Workload:
    """A workload from its spec (a ConfigError naming a bad one), or the workload itself."""
    try:
        return as_workload(spec)
    except ProfileError as e:
        raise ConfigError(str(e)) from None


class AsyncFaaSEnv:
    """The environment as coroutines: ``areset``, ``astep``, ``aclose``; also ``async with``."""

    def __init__(
        self,
        backend: str | Backend = "sim",
        *,
        preset: str | None = None,
        profile: str | Workload | Profile | None = None,
        reward: str | RewardSettings | Mapping[str, Any] | None = None,
        sim: SimSettings | Mapping[str, Any] | None = None,
        kubernetes: Mapping[str, Any] | None = None,
        local_cluster: bool = False,
        **settings: Any,
    ) -> None:
        if reward is not None:
            settings["reward"] = reward
        if profile is not None:
            if not isinstance(profile, str) and not isinstance(getattr(profile, "spec", None), str):
                raise ConfigError(f"profile={profile!r} is not valid: must be a profile spec such as 'constant:rate=10', or a Profile")
            settings["profile"] = profile if isinstance(profile, str) else profile.spec
        self.settings = env_settings(preset, **settings)
        self.workload = workload_of(profile if profile is not None else self.settings.profile)
        if isinstance(backend, str):
            self.backend = make_backend(
                backend, self.settings, self.workload, sim=sim, kubernetes=kubernetes, local_cluster=local_cluster
            )
            self.backend_name = backend
        elif hasattr(backend, "clock") and callable(getattr(backend, "reset", None)):  # its ports may come at connect
            self.backend, self.backend_name = backend, type(backend).__name__
        else:
            raise ConfigError(f"backend={backend!r} is not valid: must be one of {', '.join(BACKENDS)}, or a Backend object")
        s = self.settings
        self.engine = Engine(
            self.backend, interval=s.interval, settle_timeout=s.settle_timeout, on_settle_timeout=s.on_settle_timeout
        )
        self.action_space = spaces.action_space(s)
        self.observation_space = spaces.observation_space(s)
        self.rich = RichColumns(1, s.interval) if s.observation == "rich" else None
        self.np_random: np.random.Generator | None = None
        self.episode = 0
        self.steps = 0
        self.target: int | None = None
        self.closed = False
        self.last_record: StepRecord | None = None
        self._log = log.bind(backend=self.backend_name)

    @property
    def virtual(self) -> bool:
        """True when the backend runs on virtual time (no step ever suspends)."""
        return self.backend.clock.virtual

    def _check_open(self) -> None:
        if self.closed:
            raise EnvClosedError("the environment is closed; make a new one")

    async def areset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; see the module docstring for what a seed changes."""
        world_seed, replicas = self.reset_plan(seed, options)
        return self.reset_answer(await self.engine.reset(seed=world_seed, replicas=replicas))

    async def astep(self, action: object) -> StepResult:
        """Scale by ``action``, wait until settled, measure a window, and answer."""
        request = self.request(action)
        return self.answer(request, await self.engine.step(request.target))

    # An episode's parts around the engine, apart so that several envs can share one joint
    # step (faastrain_async.multi): plan, engine, answer.
    def reset_plan(self, seed: int | None, options: Mapping[str, Any] | None) -> tuple[int | None, int]:
        """Check a reset's options and seed the env: (the world's seed or None, the replicas)."""
        self._check_open()
        check_seed(seed)
        s = self.settings
        replicas = s.initial_replicas
        for key, value in (options or {}).items():
            if key != "replicas":
                raise ConfigError(f"unknown reset option {key!r}; known: replicas")
            if not isinstance(value, int) or not s.min_replicas <= value <= s.max_replicas:
                raise ConfigError(f"reset option replicas={value!r} must be an integer in [{s.min_replicas}, {s.max_replicas}]")
            replicas = value
        world_seed: int | None = None
        if seed is not None or self.np_random is None:
            rng, _ = seeding.np_random(seed)
            self.np_random = rng
            world_seed = seed if seed is not None else int(rng.integers(2**63 - 1))
        elif s.world == "new":
            world_seed = int(self.np_random.integers(2**63 - 1))
        return world_seed, replicas

    def reset_answer(self, record: StepRecord) -> tuple[np.ndarray, dict[str, Any]]:
        """The observation and info of a reset whose first window is ``record``."""
        self.episode += 1
        self.steps = 0
        self.target = record.target
        self.last_record = record
        info = self._info(record, actions.ScaleRequest(0, record.target, record.target), applied=record.settled)
        return self._observe(record, changed=None), info

    def request(self, action: object) -> actions.ScaleRequest:
        """The replica target ``action`` asks for (a clear error for an action outside the space)."""
        self._check_open()
        if self.target is None:
            raise ResetNeeded("call areset() before astep()")
        return actions.scale_request(action, self.target, self.settings)

    def answer(self, request: actions.ScaleRequest, record: StepRecord) -> StepResult:
        """The step's answer: observation, reward, terminated, truncated, info."""
        s = self.settings
        self.steps += 1
        changed = request.target != self.target
        self.target = request.target
        self.last_record = record
        applied = not request.clamped and record.settled and abs(record.replicas - request.target) < 1e-6
        reward = rewards.reward(record.metrics, record.replicas, s, applied)
        last = self.steps >= s.episode_steps
        terminated = last and s.episode_end == "terminated"
        truncated = (last and not terminated) or (not record.settled and s.on_settle_timeout == "truncate")
        info = self._info(record, request, applied)
        if not self.virtual:
            self._log.info(
                "step", episode=self.episode, step=self.steps, target=request.target, ready=record.ready,
                settle_s=round(record.settle_seconds, 3), requests=record.metrics.requests,
                throughput_pct=round(record.metrics.throughput_pct, 2), reward=round(reward, 3),
            )
        return self._observe(record, changed), reward, terminated, truncated, info

    def _observe(self, record: StepRecord, changed: bool | None) -> np.ndarray:
        """The observation of ``record``'s window; ``changed`` is None at a reset."""
        obs = spaces.observe(record.metrics, record.replicas, self.settings.observation_dtype)
        if self.rich is None:
            return obs
        m = record.metrics
        columns = (
            np.array([m.requests]), np.array([record.target]), np.array([record.pending]), np.array([record.terminating]),
            np.array([record.t_action]), np.array([record.t_settled]), np.array([np.nan if m.p95_exec_s is None else m.p95_exec_s]),
        )  # fmt: skip
        if changed is None:
            extra = self.rich.start(slice(None), *columns)
        else:
            extra = self.rich.add(slice(None), columns[0], columns[1], np.array([changed]), *columns[2:])
        return np.concatenate([obs, extra[0].astype(obs.dtype)])

    def _info(self, record: StepRecord, request: actions.ScaleRequest, applied: bool) -> dict[str, Any]:
        m = record.metrics
        return {
            "step": self.steps,
            "t_action": record.t_action,
            "t_settled": record.t_settled,
            "settle_seconds": record.settle_seconds,
            "settled": record.settled,
            "window": (record.window_start, record.window_end),
            "metrics_delay_seconds": record.t_measured - record.window_end,
            "t_last_event": record.t_last_event,
            "delta": request.delta,
            "requested": request.requested,
            "target": request.target,
            "clamped": request.clamped,
            "applied": applied,
            "ready": record.ready,
            "replicas": record.replicas,
            "requests": m.requests,
            "successes": m.successes,
            "exec_time_missing": m.mean_exec_s is None,
            "p95_exec_s": m.p95_exec_s,
            "metrics_stale": m.stale,
            "load_intended_rps": record.load.intended_rps,
            "load_achieved_rps": record.load.achieved_rps,
        }

    async def aclose(self) -> None:
        """Stop the engine and the backend (idempotent); re-raise a failure not yet reported."""
        if self.closed:
            return
        self.closed = True
        await self.engine.aclose()

    async def __aenter__(self) -> AsyncFaaSEnv:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
