"""Presets for agents written for FaaSTrainGym and DRe-SCale, and the one episode-length setting."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from faastrain_async import ENV_ID
from faastrain_async.errors import ConfigError


def drqn_style_episode(env: gymnasium.Env, actions: list[int], limit: int = 100) -> tuple[int, list[float]]:
    """An agent loop as DRe-SCale's DRQN writes it: it stops only when ``done`` (terminated) is set."""
    state, info = env.reset(seed=0)
    rewards = []
    steps = 0
    while True:
        action = actions[steps % len(actions)]
        next_state, reward, done, terminated, info = env.step(action)  # their names: done is Gymnasium's terminated
        assert next_state.dtype == np.float64 and env.observation_space.contains(next_state)
        rewards.append(float(reward))
        steps += 1
        if done:
            break
        assert steps < limit, "the episode never reported done"
    return steps, rewards


@pytest.mark.parametrize("preset", ["drescale", "faastraingym"])
def test_an_agent_waiting_for_terminated_sees_every_episode_end(preset: str) -> None:
    env = gymnasium.make(ENV_ID, preset=preset)
    for _ in range(3):
        steps, _ = drqn_style_episode(env, [1, 2, 3])
        assert steps == 10
    env.close()


def test_the_drescale_preset_has_the_spaces_bounds_and_penalty_of_drescale() -> None:
    env = gymnasium.make(ENV_ID, preset="drescale")
    assert env.action_space == gymnasium.spaces.Discrete(5)
    assert env.observation_space.dtype == np.float64 and env.observation_space.high[3] == 24
    env.reset(seed=0)
    targets = [env.step(4)[4]["target"] for _ in range(10)]  # +2 each step, up to 24
    assert targets == [3, 5, 7, 9, 11, 13, 15, 17, 19, 21]
    env.reset(seed=0, options={"replicas": 23})
    _, _, _, _, info = env.step(4)
    assert (info["requested"], info["target"], info["clamped"]) == (25, 24, True)
    _, _, _, _, info = env.step(0)
    assert (info["delta"], info["target"]) == (-2, 22)
    env.close()


def test_the_drescale_penalty_is_minus_100() -> None:
    def clamped_step_reward(**kwargs: object) -> float:
        env = gymnasium.make(ENV_ID, preset="drescale", **kwargs)
        env.reset(seed=5)
        _, reward, _, _, info = env.step(0)  # -2 from 1 replica: clamped, so not applied
        assert not info["applied"]
        env.close()
        return float(reward)

    assert clamped_step_reward() - clamped_step_reward(reward={"preset": "seed", "penalty": 0.0}) == pytest.approx(-100.0)


def test_keywords_given_beside_a_preset_override_it() -> None:
    env = gymnasium.make(ENV_ID, preset="drescale", max_replicas=30, observation_dtype="float32", episode_end="truncated")
    assert env.observation_space.dtype == np.float32 and env.observation_space.high[3] == 30
    assert env.action_space == gymnasium.spaces.Discrete(5)
    env.close()
    with pytest.raises(ConfigError, match="preset='dre-scale' is not valid: must be one of faastraingym, drescale"):
        gymnasium.make(ENV_ID, preset="dre-scale")


@pytest.mark.filterwarnings("ignore:.*infinity.*")
def test_check_env_passes_on_the_presets() -> None:
    for preset in ("drescale", "faastraingym"):
        env = gymnasium.make(ENV_ID, preset=preset)
        check_env(env.unwrapped, skip_render_check=True)
        env.close()


def episode_length(**kwargs: object) -> tuple[int, bool, bool, int | None]:
    env = gymnasium.make(ENV_ID, **kwargs)
    env.reset(seed=0)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(2)  # in Discrete(5) and Discrete(11)
        steps += 1
        assert steps <= 100
    limit = env.spec.max_episode_steps if env.spec is not None else None
    env.close()
    return steps, terminated, truncated, limit


def test_max_episode_steps_and_episode_steps_are_one_setting() -> None:
    assert episode_length() == (10, False, True, 10)
    assert episode_length(max_episode_steps=20) == (20, False, True, 20)
    assert episode_length(episode_steps=20) == (20, False, True, 20)
    assert episode_length(episode_steps=20, max_episode_steps=20) == (20, False, True, 20)
    assert episode_length(max_episode_steps=-1, episode_steps=7) == (7, False, True, 7)
    assert episode_length(preset="drescale", max_episode_steps=15)[:2] == (15, True)
    with pytest.raises(ConfigError, match="episode_steps=5 and max_episode_steps=20 disagree"):
        gymnasium.make(ENV_ID, episode_steps=5, max_episode_steps=20)


def test_an_env_made_again_from_its_spec_keeps_its_episode_length() -> None:
    env = gymnasium.make(ENV_ID, episode_steps=12)
    assert env.spec is not None
    again = gymnasium.make(env.spec)
    assert again.spec is not None and again.spec.max_episode_steps == 12
    env.close()
    again.close()


def test_the_cli_preset_sets_the_settings_and_options_override_it(tmp_path: Path) -> None:
    from faastrain_async.cli.main import main

    assert main(["run", "--preset", "drescale", "--policy", "random", "--steps", "25", "--out", str(tmp_path / "a")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "a" / "steps.jsonl").read_text().splitlines()]
    steps = [r for r in rows if r["action"] is not None]
    assert {r["action"] for r in steps} <= set(range(5))
    assert [r["step"] for r in steps if r["terminated"]] == [10, 10]
    assert not any(r["truncated"] for r in steps)
    assert main(["run", "--preset", "drescale", "--max-replicas", "3", "--policy", "random", "--steps", "25", "--out", str(tmp_path / "b")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "b" / "steps.jsonl").read_text().splitlines()]
    assert max(r["info"]["target"] for r in rows) == 3
