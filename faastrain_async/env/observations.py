"""The opt-in rich observation (``observation="rich"``): the six default columns, then more.

The default observation is FaaSTrainGym's six floats, one window's worth. A single window does
not show whether the load is rising, how long the last scaling took, or how long ago it was:
for an agent, the problem is partially observable. ``observation="rich"`` appends, after the
six columns (so every policy written for the six reads them where it did):

============================  ==========================================================
``rate_prev1_rps`` .. ``3``   the request rate (completed requests / interval) of the 1st,
                              2nd and 3rd window before this one; at a reset, this window's
``target``                    the replica target the env holds (after clamping)
``pending``                   replicas asked for but not ready at the window's end
``terminating``               replicas being removed at the window's end
``settle_s``                  how long the last scaling took to settle, s
``since_scaling_s``           from the last action that changed the target (or the reset)
                              to the window's end, s
``p95_exec_s``                the window's 95th percentile execution time, s (0 when no
                              request succeeded: ``info["exec_time_missing"]``, as column 0)
============================  ==========================================================

The settle barrier waits until nothing is pending or terminating before the window starts, so
``pending`` and ``terminating`` are 0 unless the replicas did not settle within
``settle_timeout`` (or, on a live cluster, a replica failed during the window).

:class:`RichColumns` computes them for a batch of environments from arrays; the scalar env
uses it with a batch of one, so the two envs share one definition.
"""

from __future__ import annotations

import numpy as np

from faastrain_async.env.spaces import LAGS, RICH_FIELDS

class RichColumns:
    """The rich columns of ``n`` environments, each with its recent history.

    Call :meth:`start` with a reset's window and :meth:`add` with each step's; both take one
    entry per environment in ``rows`` and return the columns of :data:`RICH_FIELDS` for them.
    """

    def __init__(self, n: int, interval: float) -> None:
        self.interval = interval
        self.rates = np.zeros((n, LAGS))  # newest first: the window before the current one
        self.last_change = np.zeros(n)  # when the target last changed (the reset counts)

    def start(
        self, rows: np.ndarray | slice, requests: np.ndarray, target: np.ndarray, pending: np.ndarray,
        terminating: np.ndarray, t_action: np.ndarray, t_settled: np.ndarray, p95: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """A reset's window: no earlier window, so the rates are this one's."""
        rate = np.asarray(requests, dtype=np.float64) / self.interval
        self.rates[rows] = rate[:, None]
        self.last_change[rows] = t_action
        return self._columns(rows, target, pending, terminating, t_action, t_settled, p95)

    def add(
        self, rows: np.ndarray | slice, requests: np.ndarray, target: np.ndarray, changed: np.ndarray,
        pending: np.ndarray, terminating: np.ndarray, t_action: np.ndarray, t_settled: np.ndarray, p95: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """A step's window; ``changed`` says where the step changed the target."""
        self.last_change[rows] = np.where(changed, t_action, self.last_change[rows])
        out = self._columns(rows, target, pending, terminating, t_action, t_settled, p95)
        rates = self.rates[rows]
        self.rates[rows] = np.concatenate([(np.asarray(requests, dtype=np.float64) / self.interval)[:, None], rates[:, :-1]], axis=1)
        return out

    def _columns(
        self, rows: np.ndarray | slice, target: np.ndarray, pending: np.ndarray, terminating: np.ndarray,
        t_action: np.ndarray, t_settled: np.ndarray, p95: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        end = np.asarray(t_settled, dtype=np.float64) + self.interval
        out = np.empty((len(end), len(RICH_FIELDS)))
        out[:, :LAGS] = self.rates[rows]
        out[:, LAGS] = target
        out[:, LAGS + 1] = pending
        out[:, LAGS + 2] = terminating
        out[:, LAGS + 3] = np.asarray(t_settled, dtype=np.float64) - t_action
        out[:, LAGS + 4] = end - self.last_change[rows]
        out[:, LAGS + 5] = np.nan_to_num(np.asarray(p95, dtype=np.float64), nan=0.0)
        return out
