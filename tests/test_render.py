"""Render modes: "ansi" gives a line per step, "rgb_array" a uint8 picture; check_env passes with both."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import faastrain_async
from faastrain_async.env.render import HEIGHT, WIDTH
from faastrain_async.errors import FaaSTrainError


@pytest.mark.filterwarnings("ignore:.*infinity.*")
@pytest.mark.parametrize("mode", ["ansi", "rgb_array"])
def test_check_env_passes_with_each_render_mode(mode: str) -> None:
    env = gymnasium.make(faastrain_async.ENV_ID, render_mode=mode)
    check_env(env.unwrapped)
    env.close()


def test_rgb_array_is_a_uint8_picture_of_the_episode_so_far() -> None:
    env = gymnasium.make(faastrain_async.ENV_ID, render_mode="rgb_array")
    blank = env.unwrapped.render()  # before any reset (Gymnasium's wrapper forbids it): axes only
    assert isinstance(blank, np.ndarray) and blank.shape == (HEIGHT, WIDTH, 3) and blank.dtype == np.uint8
    env.reset(seed=0)
    first = env.render()
    frames = []
    for action in (10, 10, 5, 0):
        env.step(action)
        frames.append(env.render())
    assert all(f.shape == (HEIGHT, WIDTH, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(first, frames[-1])  # the picture grows with the episode
    env.reset(seed=0)
    assert np.array_equal(env.render(), first)  # a reset starts a new picture; same seed, same picture
    env.close()


def test_ansi_is_one_line_per_step() -> None:
    env = gymnasium.make(faastrain_async.ENV_ID, render_mode="ansi")
    env.reset(seed=0)
    env.step(5)
    text = env.render()
    assert isinstance(text, str) and "\n" not in text and "step   1" in text
    env.close()


def test_unknown_render_mode_is_refused() -> None:
    with pytest.raises(FaaSTrainError, match=r"'svg'.*ansi.*rgb_array"):
        faastrain_async.FaaSEnv(render_mode="svg")
