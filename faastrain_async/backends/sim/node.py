"""Several simulated functions on one node: one clock, and the node's cores shared per window.

Each function is its own :class:`SimBackend` (its own model, settings and workload) on the
node's clock. Before each measurement window, :meth:`SimNode.share` gives every function the
cores the others leave it for that window (``equations.share_cores`` of each function's
``equations.cpu_demand`` at the window's arrivals and the replicas then ready); the share holds
until the next window. See docs/multi-agent.md for the rule.
"""

from __future__ import annotations

from collections.abc import Mapping

from faastrain_async.backends.sim import equations
from faastrain_async.backends.sim.backend import SimBackend, make_clock
from faastrain_async.config import SimSettings
from faastrain_async.errors import ConfigError
from loadgen.profiles import Profile, Workload


class SimNode:
    """The functions of one simulated node, by name."""

    def __init__(self, settings: Mapping[str, SimSettings], profiles: Mapping[str, Workload | Profile]) -> None:
        if not settings:
            raise ConfigError("a simulated node needs at least one function")
        for what in ("cores", "time_scale"):
            values = {name: getattr(s, what) for name, s in settings.items()}
            if len(set(values.values())) > 1:
                raise ConfigError(
                    f"sim {what} differ between functions ({values}); the functions share one node and one clock, "
                    f"so give them the same {what}"
                )
        first = next(iter(settings.values()))
        #: The node's cores (None: unlimited, and the functions do not interfere).
        self.cores = first.cores
        self.clock = make_clock(first)
        self.backends = {name: SimBackend(s, profiles[name], name, self.clock) for name, s in settings.items()}
        #: Each function's cores in the last window shared (empty before the first, or unlimited).
        self.shares: dict[str, float] = {}

    def share(self, start: float, end: float) -> dict[str, float]:
        """Give each function its cores from ``start`` on, for the window ``[start, end]``."""
        if self.cores is None:
            return self.shares
        models = [backend.model for backend in self.backends.values()]
        span = end - start
        demands = [equations.cpu_demand(m.settings, m.ready, m.arrivals(start, end) / span) for m in models]
        shares = equations.share_cores(self.cores, demands)
        for model, cores in zip(models, shares):
            model.set_cores(cores, start)
        self.shares = dict(zip(self.backends, shares))
        return self.shares
