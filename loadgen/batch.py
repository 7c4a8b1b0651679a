"""The rates of many environments' profiles at once, for a vectorised simulator.

:class:`BatchProfiles` holds N concrete profiles. Its ``rate(t)`` takes times of shape
``(N, k)`` (row ``i``: times of environment ``i``) and answers the ``(N, k)`` rates. The
profiles are grouped by family when added; each group keeps its parameters as columns of
one array and evaluates the family's own kernel (the formula its scalar ``rate`` uses)
with array parameters, so a call costs one numpy evaluation per family present, not a
Python loop over the environments. ``replace(i, profile)`` swaps environment ``i``'s
profile (after it resets) in O(1).

Memory: a parametric profile costs its parameter row (at most ten float64), its row's
environment index and the environment's place (about 100 bytes, up to twice that while a
group has room to grow). A trace's counts (or a ``steps`` list) are stored once per distinct
sequence and shared by every environment that replays it.

This module has no Locust import.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
import numpy as np

from loadgen.shapes import Profile, ProfileError, Shape

__all__ = ["BatchProfiles"]

_SHARED = ("first", "count")  # a table family's extra columns: where its sequence starts, how long it is


class _Sequences:
    """Distinct value sequences end to end in one array, each stored once, counted by users."""

    def __init__(self) -> None:
        self.table = np.empty(0)
        self.spans: dict[tuple[float, ...], list[int]] = {}  # sequence -> [first, users]
        self.dead = 0

    def share(self, values: tuple[float, ...]) -> int:
        span = self.spans.get(values)
        if span is None:
            span = self.spans[values] = [len(self.table), 0]
            self.table = np.concatenate([self.table, np.asarray(values, dtype=float)])
        span[1] += 1
        return span[0]

    def release(self, values: tuple[float, ...]) -> None:
        span = self.spans[values]
        span[1] -= 1
        if span[1] == 0:
            del self.spans[values]
            self.dead += len(values)

    def compacted(self) -> dict[int, int] | None:
        """Drop unused sequences once they outweigh the used ones; the moves ``{old first: new first}``."""
        if self.dead <= max(len(self.table) - self.dead, 4096):
            return None
        moves: dict[int, int] = {}
        parts = []
        at = 0
        for values, span in self.spans.items():
            moves[span[0]] = at
            span[0] = at
            parts.append(np.asarray(values, dtype=float))
            at += len(values)
        self.table = np.concatenate(parts) if parts else np.empty(0)
        self.dead = 0
        return moves


class _Group:
    """The environments whose profiles are of one class: a parameter row each."""

    def __init__(self, cls: type[Shape]) -> None:
        self.cls = cls
        self.names = cls.PARAMS + (_SHARED if cls.TABLE else ())
        self.params = np.empty((4, len(self.names)))
        self.envs = np.empty(4, dtype=np.int64)
        self.size = 0
        self.sequences = _Sequences() if cls.TABLE else None
        self.held: list[tuple[float, ...]] = []  # per row, the sequence it shares (empty for the others)

    def _row(self, profile: Profile) -> tuple[list[float], tuple[float, ...]]:
        row = [float(getattr(profile, name)) for name in self.cls.PARAMS]
        values: tuple[float, ...] = ()
        if self.sequences is not None:
            values = tuple(getattr(profile, str(self.cls.TABLE)))
            row += [float(self.sequences.share(values)), float(len(values))]
        return row, values

    def add(self, env: int, profile: Profile) -> int:
        if self.size == len(self.envs):
            self.params = np.concatenate([self.params, np.empty_like(self.params)])
            self.envs = np.concatenate([self.envs, np.empty_like(self.envs)])
        row, values = self._row(profile)
        self.params[self.size] = row
        self.envs[self.size] = env
        self.held.append(values)
        self.size += 1
        return self.size - 1

    def put(self, row: int, profile: Profile) -> None:
        values, held = self._row(profile)  # shares the new sequence before letting go of the old one
        old, self.held[row] = self.held[row], held
        self.params[row] = values
        self._let_go(old)

    def _let_go(self, values: tuple[float, ...]) -> None:
        if self.sequences is not None:
            self.sequences.release(values)
            moves = self.sequences.compacted()
            if moves:
                first = self.params[: self.size, self.names.index("first")]
                first[:] = [moves.get(int(f), int(f)) for f in first]

    def remove(self, row: int) -> int | None:
        """Drop a row by moving the last one into it; the environment moved, if any."""
        self._let_go(self.held[row])
        last = self.size - 1
        self.size = last
        moved = None
        if row != last:
            self.params[row] = self.params[last]
            self.envs[row] = self.envs[last]
            moved = int(self.envs[row])
        self.held[row] = self.held[last]
        self.held.pop()
        return moved

    def rate(self, t: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        params = self.params[: self.size] if rows is None else self.params[rows]
        shape = (len(params),) + (1,) * (t.ndim - 1)  # a column per parameter, broadcast over the times
        p = SimpleNamespace(**{name: params[:, j].reshape(shape) for j, name in enumerate(self.names)})
        if self.sequences is not None:
            p.table = self.sequences.table
        return np.broadcast_to(self.cls.kernel(p, t), t.shape)

    @property
    def nbytes(self) -> int:
        table = self.sequences.table.nbytes if self.sequences is not None else 0
        return self.params.nbytes + self.envs.nbytes + table


class BatchProfiles:
    """N concrete profiles evaluated together; see the module docstring."""

    def __init__(self, profiles: Sequence[Profile]) -> None:
        n = len(profiles)
        self._groups: dict[type, _Group] = {}
        self._group_of: list[_Group | None] = [None] * n
        self._row_of = np.zeros(n, dtype=np.int64)
        self._code = np.full(n, -1, dtype=np.int64)  # each environment's group, by its place in _groups
        for i, profile in enumerate(profiles):
            self.replace(i, profile)

    def __len__(self) -> int:
        return len(self._group_of)

    def replace(self, i: int, profile: Profile) -> None:
        """Give environment ``i`` a new profile (say, after it reset with a new seed)."""
        if not 0 <= i < len(self):
            raise ProfileError(f"environment index {i!r} is outside the batch of {len(self)}")
        if not (isinstance(profile, Shape) and profile.PARAMS):
            raise ProfileError(f"a batch takes loadgen's concrete profiles, got {profile!r}")
        cls = type(profile)
        old = self._group_of[i]
        if old is not None and old.cls is cls:
            old.put(int(self._row_of[i]), profile)
            return
        if old is not None:
            moved = old.remove(int(self._row_of[i]))
            if moved is not None:
                self._row_of[moved] = self._row_of[i]
        group = self._groups.get(cls)
        if group is None:
            group = self._groups[cls] = _Group(cls)
        self._row_of[i] = group.add(i, profile)
        self._group_of[i] = group
        self._code[i] = list(self._groups).index(cls)

    def rate(self, t: np.ndarray, envs: np.ndarray | None = None) -> np.ndarray:
        """The rates at times ``t`` of shape ``(N, k)`` (or ``(N,)``): row ``i`` for environment ``i``.

        With ``envs`` (environment indices), row ``i`` of ``t`` holds the times of environment
        ``envs[i]``: a part of the batch, in any order.
        """
        times = np.asarray(t, dtype=float)
        n = len(self) if envs is None else len(envs)
        if times.ndim not in (1, 2) or times.shape[0] != n:
            raise ProfileError(f"times must have shape (N, k) or (N,) with N = {n}, got {times.shape}")
        out = np.empty(times.shape)
        if envs is None:
            for group in self._groups.values():
                if group.size:
                    rows = group.envs[: group.size]
                    out[rows] = group.rate(times[rows])
            return out
        codes = self._code[envs]
        for code, group in enumerate(self._groups.values()):
            at = np.nonzero(codes == code)[0]
            if at.size:
                out[at] = group.rate(times[at], self._row_of[envs[at]])
        return out

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays the batch holds (parameters, indices, shared sequences)."""
        return self._row_of.nbytes + 8 * len(self._group_of) + sum(g.nbytes for g in self._groups.values())

    def __repr__(self) -> str:
        families = {g.cls.__name__: g.size for g in self._groups.values() if g.size}
        return f"BatchProfiles(n={len(self)}, {families})"

