"""``render_mode="rgb_array"``: the episode so far as a picture, drawn with numpy alone.

The frame (``HEIGHT × WIDTH × 3``, uint8) shows the intended load as a grey area, the ready
replicas as a blue line and each step's target as an orange square, over the steps of the
episode so far, on one time axis. The
replica axis spans ``[0, max_replicas]`` with a faint line at each count; the load is scaled
so that the profile's peak (or the highest load seen, if higher) reaches the top. There is
no text: drawing with numpy keeps rendering free of a plotting library and fast enough for
a video recorder that renders every step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

HEIGHT, WIDTH = 240, 480
MARGIN = 12
WHITE = (255, 255, 255)
GRID = (222, 222, 222)
AXIS = (90, 90, 90)
LOAD = (200, 200, 200)
REPLICAS = (31, 119, 180)
TARGET = (255, 127, 14)


class EpisodePlot:
    """Collects one episode's steps and draws them (see the module docstring)."""

    def __init__(self, *, max_replicas: int, episode_steps: int, peak_rps: float) -> None:
        self.max_replicas = max_replicas
        self.episode_steps = episode_steps
        self.peak_rps = peak_rps
        self.load: list[float] = []
        self.replicas: list[float] = []
        self.targets: list[float] = []

    def reset(self, obs: np.ndarray, info: Mapping[str, Any]) -> None:
        self.load, self.replicas, self.targets = [], [], []
        self.add(obs, info)

    def add(self, obs: np.ndarray, info: Mapping[str, Any]) -> None:
        self.load.append(float(info["load_intended_rps"]))
        self.replicas.append(float(obs[3]))
        self.targets.append(float(info["target"]))

    def draw(self) -> np.ndarray:
        """The frame: uint8, shape (HEIGHT, WIDTH, 3)."""
        frame = np.full((HEIGHT, WIDTH, 3), WHITE, dtype=np.uint8)
        x0, x1, y0, y1 = MARGIN, WIDTH - MARGIN, MARGIN, HEIGHT - MARGIN  # y1 is the bottom
        frame[y1, x0:x1] = AXIS
        frame[y0:y1 + 1, x0] = AXIS
        if not self.replicas:
            self._grid(frame)
            return frame
        steps = max(self.episode_steps, len(self.replicas) - 1, 1)
        xs = [x0 + round((x1 - x0) * i / steps) for i in range(len(self.replicas))]
        top = max(self.peak_rps, max(self.load), 1e-9)
        # The load: the area under the line through the steps, one pixel column at a time.
        columns = np.arange(xs[0], xs[-1] + 1)
        levels = np.clip(np.interp(columns, xs, self.load) / top, 0.0, 1.0)
        tops = HEIGHT - MARGIN - np.rint((HEIGHT - 2 * MARGIN) * levels)
        rows = np.arange(HEIGHT)[:, None]
        area = frame[:, xs[0] : xs[-1] + 1]  # a view: writing to it draws on the frame
        area[(rows >= tops[None, :]) & (rows < y1)] = LOAD
        self._grid(frame)
        ys = [self._y(r / self.max_replicas) for r in self.replicas]
        self._polyline(frame, xs, ys, REPLICAS)
        for x, t in zip(xs, self.targets):
            y = self._y(t / self.max_replicas)
            frame[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3] = TARGET
        return frame

    def _grid(self, frame: np.ndarray) -> None:
        for n in range(1, self.max_replicas + 1):
            frame[self._y(n / self.max_replicas), MARGIN + 1 : WIDTH - MARGIN] = GRID

    @staticmethod
    def _y(level: float) -> int:
        level = min(max(level, 0.0), 1.0)
        return HEIGHT - MARGIN - round((HEIGHT - 2 * MARGIN) * level)

    @staticmethod
    def _polyline(frame: np.ndarray, xs: list[int], ys: list[int], color: tuple[int, int, int]) -> None:
        for (xa, ya), (xb, yb) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
            n = max(abs(xb - xa), abs(yb - ya)) + 1
            px = np.rint(np.linspace(xa, xb, n)).astype(int)
            py = np.rint(np.linspace(ya, yb, n)).astype(int)
            for dy in (0, 1):  # two pixels thick
                frame[np.clip(py + dy, 0, HEIGHT - 1), px] = color
        if len(xs) == 1:
            frame[ys[0] : ys[0] + 2, xs[0] : xs[0] + 2] = color
