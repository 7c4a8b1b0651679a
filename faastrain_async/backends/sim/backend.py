"""The simulated backend: the three ports over one :class:`SimModel`."""

from __future__ import annotations

from faastrain_async.backends.ports import EventSink
from faastrain_async.backends.sim.model import SimModel
from faastrain_async.clock import Clock, RealClock, VirtualClock
from faastrain_async.config import SimSettings
from faastrain_async.events import LoadReport, WindowMetrics
from loadgen.profiles import Profile, Workload, as_workload


def make_clock(settings: SimSettings) -> Clock:
    """A virtual clock, or a real one sped up by ``time_scale``."""
    return VirtualClock() if settings.time_scale is None else RealClock(settings.time_scale)


class SimScaler:
    """Scales the simulated replicas; their events reach the sink as the clock advances."""

    def __init__(self, model: SimModel) -> None:
        self._model = model

    async def set_replicas(self, n: int) -> None:
        self._model.set_replicas(n)

    async def watch(self, sink: EventSink) -> None:
        self._model.sink = sink
        self._model.send_snapshot()


class SimMetrics:
    """Reads a window straight from the model."""

    def __init__(self, model: SimModel) -> None:
        self._model = model

    async def window(self, start: float, end: float) -> WindowMetrics:
        return self._model.window(start, end)

    async def resource_requests(self) -> tuple[float, float]:
        s = self._model.settings
        return s.cpu_request, s.mem_request_mib * 2**20


class SimLoad:
    """The model's own arrival process; nothing to start or stop."""

    def __init__(self, model: SimModel) -> None:
        self._model = model

    async def start(self) -> None:
        return None

    async def watch(self) -> None:
        return None

    async def report(self, start: float, end: float) -> LoadReport:
        intended, achieved = self._model.load(start, end)
        return LoadReport(intended_rps=intended, achieved_rps=achieved)

    async def stop(self) -> None:
        return None


class SimBackend:
    """A simulated function on a virtual clock, or on a sped-up real one (``time_scale``)."""

    name = "sim"

    def __init__(
        self, settings: SimSettings, workload: str | Workload | Profile, function: str = "fn", clock: Clock | None = None
    ) -> None:
        self.settings = settings
        #: Several functions on one simulated node share one clock (see backends/sim/node.py).
        self.clock: Clock = clock if clock is not None else make_clock(settings)
        self.workload = as_workload(workload)
        # Until the first reset draws the episode's profile, the model holds the one of seed 0.
        self.model = SimModel(settings, self.workload.draw(0), self.clock, function)
        self.scaler = SimScaler(self.model)
        self.metrics = SimMetrics(self.model)
        self.load = SimLoad(self.model)

    async def reset(self, *, seed: int | None, replicas: int) -> None:
        """A seed (or the first reset) starts a new world, with the profile its seed draws; otherwise
        the world goes on."""
        if seed is not None or not self.model.started:
            if isinstance(self.clock, VirtualClock):
                self.clock.reset()
            self.model.profile = self.workload.draw(seed)
            self.model.new_world(seed, replicas)
        # Otherwise the engine requests ``replicas`` at the start of its first window.

    async def aclose(self) -> None:
        self.model.sink = None
