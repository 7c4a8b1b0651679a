"""AsyncMultiEnv: several functions on one cluster, one agent per function, as coroutines.

Each function is an :class:`~faastrain_async.env.async_env.AsyncFaaSEnv` over its own backend
(its own scaler, pod watcher, metrics and load); this core runs their steps as one joint step:

1. every agent's action is checked and mapped to its function's target, and every target is
   requested;
2. a joint settle barrier: every function settled (ready == target, nothing pending or
   terminating), or its settle timeout passed;
3. one window ``[t_settled, t_settled + interval]`` for all functions (on the simulator the
   node's cores are shared out for it first: docs/multi-agent.md);
4. each function's metrics over that window; its observation and reward as the single env
   gives them.

On a virtual clock the functions' phases run one after another in agent order (nothing ever
suspends, and the order makes the episode reproducible); on a live one they run concurrently.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from functools import partial
from typing import Any, Literal, TypeVar

import numpy as np
from gymnasium import spaces as gym_spaces

from faastrain_async.backends.ports import Backend
from faastrain_async.config import DEFAULT_PROFILE, RewardSettings, check, one_of, positive
from faastrain_async.engine.engine import StepRecord, unwrap
from faastrain_async.env.actions import ScaleRequest
from faastrain_async.env.async_env import AsyncFaaSEnv, workload_of
from faastrain_async.errors import ConfigError, EnvClosedError, ResetNeeded
from faastrain_async.multi import functions as fn
from faastrain_async.logger import get_logger
from loadgen.profiles import Profile, Workload

log = get_logger(__name__)

T = TypeVar("T")
Cooperative = Literal["none", "sum", "mean"]
COOPERATIVE: tuple[str, ...] = ("none", "sum", "mean")
#: Functions of the environment when none are named.
DEFAULT_FUNCTIONS: tuple[str, ...] = ("fn-a", "fn-b")
#: The observation entry appended with ``observe_free_cores=True``.
FREE_CORES = "free_cores"

Observations = dict[str, np.ndarray]
Infos = dict[str, dict[str, Any]]


def agent_seeds(seed: int, n: int) -> list[int]:
    """The seeds of ``n`` functions' worlds in a joint episode seeded with ``seed``."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n, np.uint64) >> np.uint64(1)]


class AsyncMultiEnv:
    """Several functions on one cluster; ``areset`` / ``astep`` take and return dicts by agent.

    Args:
        functions: the functions, one agent each (the agents' names).
        backend: "sim" (one simulated node) or "kubernetes" (one Deployment per function).
        profiles: a workload profile for all functions, or a mapping with one per function.
        sim: simulator settings for all functions, or a mapping with each function's.
        kubernetes: Kubernetes settings (a mapping) for all functions, or each function's.
        local_cluster: kubernetes: start the bundled local cluster serving every function.
        cores: the node's CPU cores. On the simulator they go into every function's settings
            (the functions share them; None: the ``cores`` of the sim settings). On a live
            backend they are only what the free-capacity observation subtracts from (the local
            cluster: this machine's cores by default).
        observe_free_cores: append the node's free cores in the window to each observation.
        cooperative: "none" (each agent its own reward), "sum" or "mean" (every agent gets
            the sum or the mean of all agents' rewards; its own stays in ``info["own_reward"]``).
        reward, **settings: as for the single env (:class:`~faastrain_async.config.EnvSettings`),
            the same for every agent.
    """

    def __init__(
        self,
        functions: Sequence[str] = DEFAULT_FUNCTIONS,
        backend: str = "sim",
        *,
        profiles: str | Workload | Profile | Mapping[str, str | Workload | Profile] | None = None,
        sim: Any = None,
        kubernetes: Any = None,
        local_cluster: bool = False,
        cores: float | None = None,
        observe_free_cores: bool = False,
        cooperative: Cooperative = "none",
        reward: str | RewardSettings | Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> None:
        self.functions = fn.function_names(functions)
        one_of("cooperative", cooperative, COOPERATIVE)
        check(isinstance(observe_free_cores, bool), "observe_free_cores", observe_free_cores, "must be true or false")
        if cores is not None:
            positive("cores", cores)
        if "profile" in settings:
            raise ConfigError("profile= is the single env's; give profiles= (one for all, or a mapping by function)")
        if settings.get("observation", "default") != "default":
            # Its agents' features and the free-cores column follow the six default columns.
            raise ConfigError(f"observation={settings['observation']!r}: the multi-agent env observes the default six columns")
        self.cooperative = cooperative
        self.observe_free_cores = observe_free_cores
        profile_of = fn.profiles_of(profiles if profiles is not None else DEFAULT_PROFILE, self.functions)
        self.node: Any = None  # the simulated node (backend "sim")
        self.local_cluster: Any = None  # the local cluster, once started (local_cluster=True)
        self._local_settings: list[Any] | None = None
        backends: dict[str, Backend]
        if backend == "sim":
            if kubernetes or local_cluster:
                raise ConfigError("kubernetes settings (or local_cluster) were given, but backend='sim'; use backend='kubernetes'")
            from faastrain_async.backends.sim.node import SimNode

            self.node = SimNode(fn.sim_settings_of(sim, self.functions, cores), {f: workload_of(p) for f, p in profile_of.items()})
            backends = dict(self.node.backends)
            self.cores: float | None = self.node.cores
        elif backend == "kubernetes":
            if sim:
                raise ConfigError("sim settings were given, but backend='kubernetes'; use backend='sim'")
            backends = self._kubernetes_backends(kubernetes, local_cluster, profile_of)
            self.cores = cores if cores is not None or not local_cluster else float(os.cpu_count() or 1)
        else:
            raise ConfigError(f"unknown backend {backend!r}; known backends: sim, kubernetes")
        if observe_free_cores and self.cores is None:
            raise ConfigError(
                "observe_free_cores=True needs the node's cores: give cores= (or sim cores) for this backend"
            )
        self.backend_name = backend
        self.envs = {f: AsyncFaaSEnv(backends[f], profile=profile_of[f], reward=reward, **settings) for f in self.functions}
        self.settings = self.envs[self.functions[0]].settings
        self.virtual = self.envs[self.functions[0]].virtual
        self.action_spaces = {f: env.action_space for f, env in self.envs.items()}
        self.observation_spaces = {f: self._observation_space(env.observation_space) for f, env in self.envs.items()}
        #: The agents still in the episode (PettingZoo's ``agents``): all after a reset, none
        #: once it was truncated.
        self.agents: list[str] = []
        self.closed = False
        self._cpu_request: dict[str, float] = {}

    def _kubernetes_backends(self, kubernetes: Any, local_cluster: bool, profiles: Mapping[str, str | Workload | Profile]) -> dict[str, Backend]:
        from faastrain_async.backends.kubernetes import KubernetesBackend

        settings = fn.kubernetes_settings_of(kubernetes, self.functions)
        if local_cluster or any(s.local_cluster for s in settings.values()):
            # One cluster serves them all; it starts at the first reset (see _start_local_cluster).
            settings = {f: dataclasses.replace(s, local_cluster=False) for f, s in settings.items()}
            self._local_settings = list(settings.values())
        return {f: KubernetesBackend(s, workload_of(profiles[f])) for f, s in settings.items()}

    def _observation_space(self, single: gym_spaces.Box) -> gym_spaces.Box:
        if not self.observe_free_cores:
            return single
        low, high = np.append(single.low, 0.0).astype(single.dtype), np.append(single.high, np.inf).astype(single.dtype)
        return gym_spaces.Box(low=low, high=high, dtype=single.dtype)

    # -- episodes ---------------------------------------------------------------------------
    async def areset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None) -> tuple[Observations, Infos]:
        """Start a joint episode; a seed gives each function its own seed derived from it.

        ``options={"replicas": n}`` (all functions) or ``{"replicas": {"fn-a": n, ...}}``.
        """
        self._check_open()
        replicas = self._reset_replicas(options)
        seeds: list[int | None] = [None] * len(self.functions) if seed is None else list(agent_seeds(seed, len(self.functions)))
        plans = {
            f: self.envs[f].reset_plan(s, None if replicas[f] is None else {"replicas": replicas[f]})
            for f, s in zip(self.functions, seeds)
        }
        if self._local_settings is not None and self.local_cluster is None:
            await self._start_local_cluster()
        await self._each([partial(self.envs[f].engine.prepare, seed=plans[f][0], replicas=plans[f][1]) for f in self.functions])
        records = await self._joint({f: plans[f][1] for f in self.functions})
        answers = {f: self.envs[f].reset_answer(records[f]) for f in self.functions}
        self.agents = list(self.functions)
        free = await self._free_cores(records)
        return (
            {f: self._observe(obs, free) for f, (obs, _) in answers.items()},
            {f: self._info(f, info, free) for f, (_, info) in answers.items()},
        )

    def _reset_replicas(self, options: Mapping[str, Any] | None) -> dict[str, int | None]:
        replicas: dict[str, int | None] = dict.fromkeys(self.functions)
        for key, value in (options or {}).items():
            if key != "replicas":
                # PettingZoo's conformance test passes options of its own: named, not fatal.
                warnings.warn(f"reset option {key!r} is not known and was not used; known: replicas", stacklevel=2)
                continue
            if isinstance(value, Mapping):
                unknown = sorted(set(value) - set(self.functions))
                if unknown:
                    raise ConfigError(f"reset option replicas names unknown functions {', '.join(unknown)}; functions: {', '.join(self.functions)}")
                replicas.update(value)
            else:
                replicas = dict.fromkeys(self.functions, value)
        return replicas

    async def astep(
        self, actions: Mapping[str, object]
    ) -> tuple[Observations, dict[str, float], dict[str, bool], dict[str, bool], Infos]:
        """One joint step: every agent's action, one settle barrier, one window for all."""
        self._check_open()
        if not self.agents:
            raise ResetNeeded("the episode is over (or was never started): call areset() before astep()")
        if not isinstance(actions, Mapping) or set(actions) != set(self.agents):
            given = sorted(actions) if isinstance(actions, Mapping) else actions
            raise ConfigError(f"actions={given!r} is not valid: give one action for each agent ({', '.join(self.agents)})")
        requests: dict[str, ScaleRequest] = {f: self.envs[f].request(actions[f]) for f in self.functions}
        records = await self._joint({f: r.target for f, r in requests.items()})
        answers = {f: self.envs[f].answer(requests[f], records[f]) for f in self.functions}
        free = await self._free_cores(records)
        own = {f: a[1] for f, a in answers.items()}
        rewards = self._rewards(own)
        # The episode is joint: its end (the time limit, reported as the settings' episode_end
        # says, or a settle timeout that truncates) ends it for every agent.
        terminated = any(a[2] for a in answers.values())
        truncated = not terminated and any(a[3] for a in answers.values())
        if terminated or truncated:
            self.agents = []
        return (
            {f: self._observe(a[0], free) for f, a in answers.items()},
            rewards,
            dict.fromkeys(self.functions, terminated),
            dict.fromkeys(self.functions, truncated),
            {f: self._info(f, a[4], free, own[f]) for f, a in answers.items()},
        )

    def _rewards(self, own: dict[str, float]) -> dict[str, float]:
        if self.cooperative == "none":
            return own
        total = sum(own.values())
        shared = total if self.cooperative == "sum" else total / len(own)
        return dict.fromkeys(own, shared)

    # -- the joint step ---------------------------------------------------------------------
    async def _joint(self, targets: dict[str, int]) -> dict[str, StepRecord]:
        """Scale every function, wait for all to settle, measure one window for all."""
        engines = [self.envs[f].engine for f in self.functions]
        t_actions = await self._each([partial(e.scale, targets[f]) for e, f in zip(engines, self.functions)])
        settled = await self._each([partial(e.settle, targets[f], t + e.settle_timeout) for e, f, t in zip(engines, self.functions, t_actions)])
        start = engines[0].clock.now()  # every function's window opens at the joint barrier
        opened = [e.open_window(targets[f], t, ok, start) for e, f, t, ok in zip(engines, self.functions, t_actions, settled)]
        end = start + self.settings.interval
        if self.node is not None:
            self.node.share(start, end)
        records = await self._each([partial(e.measure, o, end) for e, o in zip(engines, opened)])
        return dict(zip(self.functions, records))

    async def _each(self, calls: list[Callable[[], Coroutine[Any, Any, T]]]) -> list[T]:
        """Run the calls: in order on a virtual clock, concurrently on a live one."""
        if self.virtual:
            return [await call() for call in calls]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(call()) for call in calls]
        except BaseExceptionGroup as failed:  # the first failure is the one to report
            raise unwrap(failed.exceptions[0]) from failed
        return [task.result() for task in tasks]

    # -- what each agent gets besides the single env's answer ---------------------------------
    async def _free_cores(self, records: dict[str, StepRecord]) -> float | None:
        """The node's cores the functions left unused over the window (None: cores unknown)."""
        if self.cores is None:
            return None
        used = 0.0
        for f, record in records.items():
            if f not in self._cpu_request:
                self._cpu_request[f] = (await self.envs[f].backend.metrics.resource_requests())[0]
            used += record.metrics.cpu_util * self._cpu_request[f] * record.replicas
        return max(self.cores - used, 0.0)

    def _observe(self, obs: np.ndarray, free: float | None) -> np.ndarray:
        return np.append(obs, obs.dtype.type(free)) if self.observe_free_cores else obs

    def _info(self, function: str, info: dict[str, Any], free: float | None, own: float | None = None) -> dict[str, Any]:
        if free is not None:
            info[FREE_CORES] = free
        if self.node is not None and function in self.node.shares:
            info["cores_available"] = self.node.shares[function]
        if own is not None and self.cooperative != "none":
            info["own_reward"] = own
        return info

    # -- life cycle ---------------------------------------------------------------------------
    async def _start_local_cluster(self) -> None:
        from faastrain_async.backends.kubernetes.backend import local_cluster_for, pointed_at

        assert self._local_settings is not None
        cluster = local_cluster_for(self._local_settings)
        await cluster.start()
        self.local_cluster = cluster
        log.info("local cluster started", functions=list(self.functions), gateway=cluster.gateway_url, prometheus=cluster.prometheus_url)
        for env in self.envs.values():
            env.backend.settings = pointed_at(env.backend.settings, cluster)  # type: ignore[attr-defined]

    def _check_open(self) -> None:
        if self.closed:
            raise EnvClosedError("the environment is closed; make a new one")

    async def aclose(self) -> None:
        """Stop every function's engine and backend, then the local cluster (idempotent);
        re-raise the first failure once everything is stopped."""
        if self.closed:
            return
        self.closed = True
        failures: list[BaseException] = []
        for env in self.envs.values():
            try:
                await env.aclose()
            except Exception as error:  # close the rest first
                failures.append(error)
        if self.local_cluster is not None:
            try:
                await self.local_cluster.stop()
            except Exception as error:
                failures.append(error)
        if failures:
            raise failures[0]

    async def __aenter__(self) -> AsyncMultiEnv:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["AsyncMultiEnv", "agent_seeds", "COOPERATIVE", "DEFAULT_FUNCTIONS", "FREE_CORES"]
