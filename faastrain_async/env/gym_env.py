"""FaaSEnv: the synchronous Gymnasium adapter over :class:`AsyncFaaSEnv`.

A virtual-time backend (the simulator) never suspends, so its coroutines are driven to
completion in the caller's thread with one ``send(None)``: a step costs microseconds and no
thread is started. A live backend gets a portal: one event-loop thread per env, started at
the first call, whose watchers keep running between steps; each call waits for its result
with a timeout, and ``close()`` stops the loop, joins the thread and re-raises what failed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np

from faastrain_async.backends.ports import Backend
from faastrain_async.env.async_env import AsyncFaaSEnv, StepResult, check_seed
from faastrain_async.env.render import EpisodePlot
from faastrain_async.errors import ConfigError, EnvClosedError, FaaSTrainError

T = TypeVar("T")

#: Time allowed beyond settle_timeout + interval for one call (metrics, scaling API calls).
CALL_MARGIN = 120.0
#: Time allowed for close() to stop the loop thread.
CLOSE_TIMEOUT = 30.0


def run_inline(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, in this thread, and return its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise FaaSTrainError("a virtual-time backend suspended on real I/O; it must run on a live clock")


class Portal:
    """An event loop in its own thread, for calling coroutines from synchronous code."""

    def __init__(self, name: str = "faastrain-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            # threading's waits overflow past TIMEOUT_MAX (about 292 years): wait that long at most.
            return future.result(min(timeout, threading.TIMEOUT_MAX))
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise FaaSTrainError(f"the call did not finish within {timeout:g}s; it was cancelled") from None
        except BaseException:
            future.cancel()  # interrupted (SIGINT / SIGTERM): stop the call too; close() follows
            raise

    def close(self) -> None:
        """Cancel what still runs, stop the loop and join its thread."""

        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        try:
            self.call(cancel_rest(), CLOSE_TIMEOUT)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(CLOSE_TIMEOUT)
            if self.thread.is_alive():
                raise FaaSTrainError(f"the event-loop thread did not stop within {CLOSE_TIMEOUT:g}s")
            self.loop.close()


class SyncCaller:
    """Runs an environment core's coroutines from synchronous code.

    On a virtual clock each runs inline (:func:`run_inline`); otherwise in a :class:`Portal`,
    started at the first call, with ``timeout`` seconds for each call.
    """

    def __init__(self, virtual: bool, timeout: float, name: str = "faastrain-loop") -> None:
        self.virtual = virtual
        self.timeout = timeout
        self.name = name
        self.closed = False
        self._portal: Portal | None = None

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T:
        if self.closed:
            coro.close()
            raise EnvClosedError("the environment is closed; make a new one")
        if self.virtual:
            return run_inline(coro)
        if self._portal is None:
            self._portal = Portal(self.name)
        return self._portal.call(coro, self.timeout)

    def close(self, aclose: Coroutine[Any, Any, None] | None) -> None:
        """Run the core's ``aclose()`` (None: it is closed already), then stop the portal."""
        try:
            if aclose is not None:
                self(aclose)
        finally:
            self.closed = True
            portal, self._portal = self._portal, None
            if portal is not None:
                portal.close()


class FaaSEnv(gym.Env[np.ndarray, np.int64]):
    """Gymnasium environment ``FaaSTrainGym-v1``; see :class:`AsyncFaaSEnv` for the details.

    Every keyword argument is passed on to :class:`AsyncFaaSEnv`, so ``gymnasium.make``
    takes them as they are: ``gymnasium.make("FaaSTrainGym-v1", backend="sim",
    action_mode="updown", reward="normalized", profile="sine:period=600,low=2,high=40")``.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, backend: str | Backend = "sim", *, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"render_mode={render_mode!r} is not valid: must be one of {', '.join(self.metadata['render_modes'])} or None")
        self.env = AsyncFaaSEnv(backend, **kwargs)
        self.action_space = self.env.action_space
        self.observation_space = self.env.observation_space
        self.render_mode = render_mode
        s = self.env.settings
        self.call_timeout = s.settle_timeout + s.interval + CALL_MARGIN
        self._call = SyncCaller(self.env.virtual, self.call_timeout)
        self._last: tuple[np.ndarray, float | None, dict[str, Any]] | None = None
        # "rgb_array" draws the episode so far, so it keeps the steps (see env/render.py).
        self._plot = (
            EpisodePlot(max_replicas=s.max_replicas, episode_steps=s.episode_steps, peak_rps=self.env.workload.peak)
            if render_mode == "rgb_array" else None
        )  # fmt: skip

    @property
    def episode_steps(self) -> int:
        """Steps per episode; setting it (between episodes) changes the env's settings."""
        return self.env.settings.episode_steps

    @episode_steps.setter
    def episode_steps(self, steps: int) -> None:
        self.env.settings = dataclasses.replace(self.env.settings, episode_steps=steps)
        if self._plot is not None:
            self._plot.episode_steps = steps

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        check_seed(seed)  # before Gymnasium's own check, whose error is no FaaSTrainError
        super().reset(seed=seed)
        obs, info = self._call(self.env.areset(seed=seed, options=options))
        self._np_random = self.env.np_random  # one generator: the core's
        self._last = (obs, None, info)
        if self._plot is not None:
            self._plot.reset(obs, info)
        return obs, info

    def step(self, action: np.int64 | int) -> StepResult:
        result = self._call(self.env.astep(action))
        self._last = (result[0], result[1], result[4])
        if self._plot is not None:
            self._plot.add(result[0], result[4])
        return result

    def render(self) -> str | np.ndarray | None:
        if self._plot is not None:
            return self._plot.draw()
        if self.render_mode != "ansi" or self._last is None:
            return None
        obs, reward, info = self._last
        r = "-" if reward is None else f"{reward:10.2f}"
        return (
            f"ep {self.env.episode:>3} step {info['step']:>3}  target {info['target']:>2}  "
            f"replicas {obs[3]:5.2f}  req {obs[2]:8.1f}  thr {obs[1]:6.2f}%  exec {obs[0]:6.3f}s  "
            f"cpu {obs[4]:5.2f}  mem {obs[5]:5.2f}  settle {info['settle_seconds']:6.2f}s  reward {r}"
        )

    def close(self) -> None:
        """Stop the environment; re-raise what failed in it. Calls after close() raise."""
        if not self._call.closed:
            self._call.close(None if self.env.closed else self.env.aclose())
