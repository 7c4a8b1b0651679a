"""The environment through its public APIs: Gymnasium's checker, spaces, seeding, errors."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import faastrain_async
from faastrain_async import AsyncFaaSEnv, FaaSEnv
from faastrain_async.errors import ConfigError, EnvClosedError, ResetNeeded

ENV_ID = faastrain_async.ENV_ID


def rollout(env: gymnasium.Env, seed: int, actions: list[int]) -> list[tuple]:
    out = []
    obs, info = env.reset(seed=seed)
    out.append((obs.tobytes(), info["target"]))
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out.append((obs.tobytes(), reward, terminated, truncated, info["settle_seconds"]))
        if truncated:
            obs, info = env.reset()
            out.append((obs.tobytes(), info["target"]))
    return out


@pytest.mark.filterwarnings("ignore:.*infinity.*")
def test_check_env_passes_on_every_registered_variant() -> None:
    for kwargs in ({}, {"action_mode": "updown"}, {"reward": "normalized"}):
        env = gymnasium.make(ENV_ID, **kwargs)
        check_env(env.unwrapped, skip_render_check=True)
        env.close()


def test_make_needs_no_argument_and_has_seed_compatible_defaults() -> None:
    env = gymnasium.make(ENV_ID)
    assert env.spec is not None and env.spec.max_episode_steps == 10
    assert env.action_space == gymnasium.spaces.Discrete(11)
    space = env.observation_space
    assert space.shape == (6,) and space.dtype == np.float32
    assert space.low.tolist() == [0.0] * 6
    assert space.high[1] == 100.0 and space.high[3] == 10.0
    obs, info = env.reset(seed=0)
    assert space.contains(obs) and info["target"] == 1
    steps = 0
    truncated = False
    while not truncated:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
        assert not terminated
        assert space.contains(obs)
    assert steps == 10
    env.close()


def test_same_seed_same_trajectory_and_different_seed_differs() -> None:
    actions = [int(a) for a in np.random.default_rng(7).integers(0, 11, 35)]
    runs = []
    for seed in (11, 11, 12):
        env = gymnasium.make(ENV_ID)
        runs.append(rollout(env, seed, actions))
        env.close()
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_reseeding_the_same_env_repeats_the_episode() -> None:
    env = gymnasium.make(ENV_ID)
    actions = [10, 0, 7, 3, 5]
    assert rollout(env, 5, actions) == rollout(env, 5, actions)
    env.close()


def test_updown_actions_move_by_the_step_size() -> None:
    env = gymnasium.make(ENV_ID, action_mode="updown", step_size=2, initial_replicas=3)
    assert env.action_space == gymnasium.spaces.Discrete(2)
    env.reset(seed=0)
    _, _, _, _, info = env.step(1)
    assert info["target"] == 5 and info["delta"] == 2
    _, _, _, _, info = env.step(0)
    assert info["target"] == 3
    env.close()


def test_delta_actions_clamp_and_the_seed_penalty_applies() -> None:
    env = gymnasium.make(ENV_ID, max_delta=3)
    assert env.action_space == gymnasium.spaces.Discrete(7)
    env.reset(seed=0)
    _, reward_ok, _, _, info = env.step(3 + 2)  # 1 -> 3
    assert info["target"] == 3 and not info["clamped"] and info["applied"]
    _, reward_clamped, _, _, info = env.step(0)  # 3 - 3 = 0 -> clamped to 1
    assert info["requested"] == 0 and info["target"] == 1 and info["clamped"] and not info["applied"]
    assert reward_clamped < reward_ok - 500  # the -1000 penalty
    env.close()


def test_normalized_reward_stays_in_range() -> None:
    env = gymnasium.make(ENV_ID, reward="normalized")
    env.reset(seed=1)
    rewards = []
    for a in np.random.default_rng(1).integers(0, 11, 200):
        _, r, _, truncated, _ = env.step(int(a))
        rewards.append(r)
        if truncated:
            env.reset()
    assert -1.0 <= min(rewards) and max(rewards) <= 0.75
    assert max(rewards) - min(rewards) > 0.3  # it does discriminate
    env.close()


@pytest.mark.parametrize("action", [-1, 11, 2.0, "3", None, np.array([1, 2]), True])
def test_an_action_outside_the_space_is_a_clear_error(action: object) -> None:
    env = FaaSEnv()
    env.reset(seed=0)
    with pytest.raises(ConfigError, match=r"outside the action space Discrete\(11\)"):
        env.step(action)  # type: ignore[arg-type]
    env.close()


def test_numpy_integer_actions_are_accepted() -> None:
    env = FaaSEnv()
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.int64(7))
    assert info["target"] == 3
    env.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_replicas": 5, "max_replicas": 2}, "min_replicas=5 is greater than max_replicas=2"),
        ({"interval": -1.0}, "interval=-1.0"),
        ({"interval": 0}, "interval=0"),
        ({"episode_steps": 0}, "episode_steps=0"),
        ({"action_mode": "sideways"}, "action_mode='sideways'.*delta, updown"),
        ({"on_settle_timeout": "ignore"}, "on_settle_timeout='ignore'"),
        ({"profile": "sine:period=10,low=5"}, "missing high="),
        ({"profile": "wave:x=1"}, "unknown kind 'wave'"),
        ({"reward": "best"}, "reward preset='best'"),
        ({"sim": {"cold_strat": 2}}, "unknown sim setting.*cold_strat"),
        ({"sim": {"concurrency": 0}}, "concurrency=0"),
        ({"bogus": 1}, "bogus"),
        ({"initial_replicas": 20}, "initial_replicas=20"),
    ],
)
def test_invalid_settings_name_the_bad_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        gymnasium.make(ENV_ID, **kwargs)


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown backend 'docker'.*sim"):
        gymnasium.make(ENV_ID, backend="docker")


def test_step_before_reset_and_use_after_close() -> None:
    env = FaaSEnv()
    with pytest.raises(ResetNeeded):
        env.step(5)
    env.reset(seed=0)
    env.close()
    env.close()  # idempotent
    with pytest.raises(EnvClosedError):
        env.step(5)
    with pytest.raises(EnvClosedError):
        env.reset()


def test_reset_options_choose_the_replicas() -> None:
    env = FaaSEnv()
    obs, info = env.reset(seed=0, options={"replicas": 4})
    assert info["target"] == 4 and obs[3] == 4.0
    with pytest.raises(ConfigError, match="replicas=11"):
        env.reset(options={"replicas": 11})
    with pytest.raises(ConfigError, match="unknown reset option 'speed'"):
        env.reset(options={"speed": 1})
    env.close()


def test_ansi_render_describes_the_last_step() -> None:
    env = FaaSEnv(render_mode="ansi")
    env.reset(seed=0)
    env.step(7)
    line = env.render()
    assert isinstance(line, str) and "target  3" in line and "reward" in line
    env.close()


async def test_async_env_on_its_own() -> None:
    async with AsyncFaaSEnv(profile="constant:rate=12") as env:
        obs, info = await env.areset(seed=3)
        assert env.observation_space.contains(obs)
        truncated, steps = False, 0
        while not truncated:
            obs, reward, terminated, truncated, info = await env.astep(6)  # +1 each step
            steps += 1
        assert steps == 10
        assert info["target"] == 10 and obs[3] == 10.0
        assert info["load_intended_rps"] == pytest.approx(12.0)
    assert env.closed
