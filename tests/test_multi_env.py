"""The multi-agent environment on the simulator: PettingZoo's conformance test, seeded
determinism, the shared-cores rule by hand, and what the joint step promises."""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from pettingzoo.test import api_test, parallel_api_test  # noqa: E402

from faastrain_async import AsyncFaaSEnv  # noqa: E402
from faastrain_async.backends.sim.equations import cpu_demand, share_cores  # noqa: E402
from faastrain_async.config import SimSettings  # noqa: E402
from faastrain_async.env.gym_env import run_inline  # noqa: E402
from faastrain_async.errors import ConfigError, ResetNeeded  # noqa: E402
from faastrain_async.multi import ENV_ID, env, make, parallel_env  # noqa: E402
from faastrain_async.multi.core import agent_seeds  # noqa: E402

#: A function whose replica completes 5 req/s, one at a time, and queues past that.
FUNCTION = {"service_time": 0.2, "concurrency": 1, "replica_rate": 5.0, "overload": "queue", "cold_start": 3.0}
#: A node whose cores bind: CPU-heavy requests (half the service time on the CPU).
HEAVY = {**FUNCTION, "cores": 2.0, "cpu_per_request": 0.1, "cpu_request": 0.5, "idle_cpu": 0.02}


def rollout(e: Any, seed: int, steps: int) -> list[Any]:
    """Observations, rewards and infos of an episode under a fixed sequence of joint actions."""
    rng = np.random.default_rng(1234)
    out: list[Any] = [e.reset(seed=seed)]
    for _ in range(steps):
        out.append(e.step({a: int(rng.integers(e.action_space(a).n)) for a in e.agents}))
    return out


def flat(value: Any) -> list[Any]:
    """Every number of a nested result, for an exact comparison."""
    if isinstance(value, dict):
        return [x for k in sorted(value) for x in [k, *flat(value[k])]]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in flat(v)]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return [value]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"functions": ["a", "b", "c"], "sim": HEAVY, "observe_free_cores": True, "cooperative": "mean"},
        {"functions": ["a", "b"], "action_mode": "updown", "reward": "normalized", "cooperative": "sum", "sim": HEAVY},
        {"functions": ["a", "b"], "sim": {"cores": 0.5, "overload": "reject"}},
    ],
)
def test_pettingzoo_parallel_api(kwargs: dict[str, Any]) -> None:
    e = parallel_env(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the test's own reset option is named in a warning
        parallel_api_test(e, num_cycles=30)
    e.close()


def test_pettingzoo_aec_api_and_the_name() -> None:
    aec = env(functions=["a", "b"], sim=HEAVY)
    api_test(aec, num_cycles=25)
    aec.close()
    named = make(ENV_ID, functions=["x"])
    assert named.possible_agents == ["x"]
    named.close()
    with pytest.raises(ConfigError, match="unknown multi-agent environment 'Nope-v0'; known: FaaSTrainMulti-v1"):
        make("Nope-v0")


def test_the_same_seed_gives_the_same_joint_episode_bit_for_bit() -> None:
    kwargs = {"functions": ["a", "b", "c", "d"], "sim": HEAVY, "observe_free_cores": True, "episode_steps": 40,
              "profiles": {"a": "sine:period=600,low=2,high=20", "b": "constant:rate=8", "c": "square:period=300,low=1,high=15",
                           "d": "sine:period=300,low=2,high=12,phase=1.5"}}  # fmt: skip
    first, second, other = (parallel_env(**kwargs) for _ in range(3))
    a, b, c = rollout(first, 7, 40), rollout(second, 7, 40), rollout(other, 8, 40)
    assert flat(a) == flat(b)
    assert flat(a) != flat(c)
    # And again from a seeded reset of a used env.
    assert flat(rollout(first, 7, 40)) == flat(a)
    for e in (first, second, other):
        e.close()


def test_without_a_cores_limit_each_function_sees_the_single_env_episode() -> None:
    # Instant scaling, so that the joint barrier releases when each function's own would.
    profiles, sim = {"a": "sine:period=600,low=2,high=40", "b": "constant:rate=12"}, {"cold_start": 0.0, "termination": 0.0}
    e = parallel_env(functions=["a", "b"], profiles=profiles, sim=sim)
    seeds = dict(zip(["a", "b"], agent_seeds(5, 2)))
    joint = rollout(e, 5, 10)
    e.close()
    rng = np.random.default_rng(1234)
    actions = [{a: int(rng.integers(11)) for a in ("a", "b")} for _ in range(10)]
    for name in ("a", "b"):
        single = AsyncFaaSEnv("sim", profile=profiles[name], sim=sim)
        obs, _ = run_inline(single.areset(seed=seeds[name]))
        assert obs.tolist() == joint[0][0][name].tolist()
        for step, joint_actions in enumerate(actions, start=1):
            obs, reward, _, _, _ = run_inline(single.astep(joint_actions[name]))
            assert obs.tolist() == joint[step][0][name].tolist()
            assert reward == joint[step][1][name]


def test_cpu_demand_and_the_share_rule_by_hand() -> None:
    s = SimSettings(**FUNCTION, cpu_per_request=0.1, idle_cpu=0.02)  # 5 req/s per replica
    assert cpu_demand(s, 3, 10.0) == pytest.approx(3 * 0.02 + 10.0 * 0.1)  # below the replicas' 15 req/s
    assert cpu_demand(s, 1, 10.0) == pytest.approx(0.02 + 5.0 * 0.1)  # one replica completes 5 req/s at most
    # They fit: each gets what the others leave (its demand plus all the slack).
    assert share_cores(2.0, [0.5, 0.7]) == pytest.approx([1.3, 1.5])
    # They do not: shares in proportion to the demands.
    assert share_cores(1.0, [0.5, 1.5]) == pytest.approx([0.25, 0.75])
    assert share_cores(2.0, [1.0, 1.0]) == pytest.approx([1.0, 1.0])  # the border: both rules agree


def test_each_window_a_function_gets_the_cores_the_others_leave() -> None:
    """The cores each function had in a window follow from that window's arrivals and replicas."""
    sim = {**FUNCTION, "cores": 1.5, "cpu_per_request": 0.1, "idle_cpu": 0.02, "cold_start": 0.0}
    e = parallel_env(functions=["a", "b"], profiles={"a": "constant:rate=12", "b": "constant:rate=3"}, sim=sim)
    e.reset(seed=0)
    s = SimSettings(**sim)
    seen = {"fit": 0, "over": 0}
    for a_target in (1, 2, 4, 8, 3):
        _, _, _, _, infos = e.step({"a": 5 + a_target - infos_target(e, "a"), "b": 5})
        demands = {}
        for name in ("a", "b"):
            i = infos[name]
            rate = i["load_achieved_rps"]  # the window's arrivals per second
            demands[name] = i["ready"] * 0.02 + min(rate, i["ready"] * 5.0) * 0.1
            assert demands[name] == pytest.approx(cpu_demand(s, i["ready"], rate))
        total = sum(demands.values())
        for name, other in (("a", "b"), ("b", "a")):
            expected = 1.5 - demands[other] if total <= 1.5 else 1.5 * demands[name] / total
            assert infos[name]["cores_available"] == pytest.approx(expected, rel=1e-9)
            # A function never completes more than its share of the cores allows.
            capacity = (infos[name]["cores_available"] - infos[name]["ready"] * 0.02) / 0.1
            assert infos[name]["successes"] / 30.0 <= capacity * 1.0001
        seen["fit" if total <= 1.5 else "over"] += 1
    assert seen["fit"] and seen["over"]  # both rules were exercised
    e.close()


def infos_target(e: Any, agent: str) -> int:
    return int(e.core.envs[agent].target)


def test_one_functions_scale_up_slows_the_other() -> None:
    """Under load, scaling one function up takes cores from the other: its execution time rises."""
    e = parallel_env(functions=["a", "b"], profiles={"a": "constant:rate=20", "b": "constant:rate=4"}, sim=HEAVY, episode_steps=20)
    e.reset(seed=3)
    exec_b = []
    for a_action in (5, 5, 10, 5, 5):  # a stays at 1 replica, then goes to 6
        _, _, _, _, infos = e.step({"a": a_action, "b": 6 if infos_target(e, "b") < 2 else 5})
        exec_b.append((infos["a"]["ready"], infos["b"]["ready"], e.core.envs["b"].last_record.metrics.mean_exec_s))
    e.close()
    before = [x for a, b, x in exec_b if a == 1 and b == 2]
    after = [x for a, b, x in exec_b if a == 6 and b == 2]
    assert before and after
    assert min(after) > 1.5 * max(before), exec_b


def test_cooperative_rewards_and_free_cores() -> None:
    e = parallel_env(functions=["a", "b", "c"], sim=HEAVY, cooperative="sum", observe_free_cores=True)
    obs, _ = e.reset(seed=1)
    assert e.observation_space("a").shape == (7,) and all(o.shape == (7,) for o in obs.values())
    _, rewards, _, _, infos = e.step({"a": 7, "b": 5, "c": 3})
    own = [infos[a]["own_reward"] for a in e.possible_agents]
    assert len(set(rewards.values())) == 1 and rewards["a"] == pytest.approx(sum(own))
    used = sum(e.core.envs[a].last_record.metrics.cpu_util * 0.5 * infos[a]["replicas"] for a in e.possible_agents)
    assert obs is not None and infos["a"]["free_cores"] == pytest.approx(max(2.0 - used, 0.0))
    assert e.state().shape == (21,)
    e.close()


@pytest.mark.parametrize("end", ["truncated", "terminated"])
def test_the_episode_ends_for_every_agent_at_once(end: str) -> None:
    e = parallel_env(functions=["a", "b"], episode_steps=3, episode_end=end, observation_dtype="float64",
                     sim={"cores": 1.0}, observe_free_cores=True)  # fmt: skip
    e.reset(seed=0)
    for step in range(3):
        obs, _, terminated, truncated, _ = e.step({"a": 5, "b": 5})
        ended = terminated if end == "terminated" else truncated
        assert not any((truncated if end == "terminated" else terminated).values())
        assert all(ended.values()) == (step == 2) and any(ended.values()) == (step == 2)
        assert obs["a"].dtype == np.float64 and e.observation_space("a").contains(obs["a"])
    assert e.agents == []
    with pytest.raises(ResetNeeded, match="call areset"):
        e.step({"a": 5, "b": 5})
    e.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"functions": []}, "give a list of function names"),
        ({"functions": ["a", "a"]}, "names must be unique"),
        ({"functions": ["A_b"]}, "DNS-1123"),
        ({"functions": ["a", "b"], "profiles": {"a": "constant:rate=1"}}, "missing: b"),
        ({"functions": ["a"], "profiles": {"a": "constant:rate=1", "z": "constant:rate=1"}}, "unknown: z"),
        ({"functions": ["a"], "profiles": "wobble:rate=1"}, "unknown kind 'wobble'"),
        ({"functions": ["a", "b"], "sim": {"a": {"cores": 1}, "b": {"cores": 2}}}, "sim cores differ between functions"),
        ({"functions": ["a"], "cores": 4, "sim": {"cores": 2}}, "differs from sim cores=2"),
        ({"functions": ["a"], "observe_free_cores": True}, "needs the node's cores"),
        ({"functions": ["a"], "cooperative": "all"}, "cooperative='all' is not valid"),
        ({"functions": ["a"], "profile": "constant:rate=1"}, "give profiles="),
        ({"functions": ["a"], "backend": "cloud"}, "unknown backend 'cloud'"),
        ({"functions": ["a"], "sim": {"tick": 0}}, "tick=0 is not valid"),
        ({"functions": ["a"], "backend": "kubernetes", "kubernetes": {"function": "other"}}, "the function of its name"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parallel_env(**kwargs)


def test_bad_actions_and_reset_options_are_named() -> None:
    e = parallel_env(functions=["a", "b"])
    with pytest.raises(ResetNeeded):
        e.step({"a": 5, "b": 5})
    e.reset(seed=0, options={"replicas": {"a": 3}})
    assert e.core.envs["a"].target == 3 and e.core.envs["b"].target == 1
    with pytest.raises(ConfigError, match="give one action for each agent"):
        e.step({"a": 5})
    with pytest.raises(ConfigError, match="outside the action space Discrete"):
        e.step({"a": 5, "b": 11})
    with pytest.raises(ConfigError, match="unknown functions z"):
        e.reset(options={"replicas": {"z": 1}})
    with pytest.raises(ConfigError, match="replicas=99"):
        e.reset(options={"replicas": 99})
    with pytest.warns(UserWarning, match="reset option 'speed' is not known"):
        e.reset(options={"speed": 2})
    e.close()
    e.close()  # idempotent


def test_a_live_clock_runs_the_functions_concurrently_and_leaves_nothing_behind() -> None:
    before = set(threading.enumerate())
    e = parallel_env(functions=["a", "b"], sim={**HEAVY, "time_scale": 300.0, "cold_start": 1.0}, interval=15.0)
    obs, _ = e.reset(seed=0)
    _, _, _, _, infos = e.step({"a": 8, "b": 6})
    # One barrier and one window for both.
    assert infos["a"]["window"] == infos["b"]["window"]
    assert infos["a"]["settled"] and infos["b"]["settled"]
    assert (infos["a"]["ready"], infos["b"]["ready"]) == (4, 2)
    assert infos["a"]["t_settled"] >= max(infos["a"]["t_last_event"], infos["b"]["t_last_event"])
    e.close()
    assert set(threading.enumerate()) == before


def test_one_shared_policy_sees_every_agent_as_a_slot_of_a_vector_env() -> None:
    pytest.importorskip("stable_baselines3")
    from faastrain_async.multi.shared import SharedPolicyVecEnv

    def make() -> Any:
        return parallel_env(functions=["a", "b"], sim=HEAVY, observe_free_cores=True, episode_steps=3)

    vec = SharedPolicyVecEnv(make, copies=2, history=2)
    vec.seed(3)
    assert vec.num_envs == 4 and vec.observation_space.shape == (16,)  # (7 features + free cores) x 2 steps
    obs = vec.reset()
    assert obs.shape == (4, 16)
    for step in range(3):
        vec.step_async(np.array([6, 5, 4, 5]))
        obs, rewards, dones, infos = vec.step_wait()
        assert dones.tolist() == [step == 2] * 4
        assert [i["target"] for i in infos] == [2, 1, 1, 1] if step == 0 else True  # slot = (copy, agent)
        if step < 2:  # the newest step's free cores, as a fraction of the node's 2, after its 14 features
            assert obs[:, 14] == pytest.approx([i["free_cores"] / 2.0 for i in infos])
    assert all("terminal_observation" in i and i["TimeLimit.truncated"] for i in infos)
    assert obs.shape == (4, 16)  # the copies were reset
    vec.close()


@pytest.mark.parametrize("overload", ["queue", "reject"])
def test_a_model_given_its_cores_behaves_as_one_built_with_them(overload: str) -> None:
    from faastrain_async.backends.sim.model import SimModel
    from faastrain_async.clock import VirtualClock
    from loadgen.profiles import parse_profile

    built = SimSettings(overload=overload, cores=0.7, cpu_per_request=0.05)
    profile = parse_profile("sine:period=300,low=5,high=40")
    windows = []
    for settings, share in ((built, None), (SimSettings(overload=overload, cpu_per_request=0.05), 0.7)):
        clock = VirtualClock()
        model = SimModel(settings, profile, clock)
        model.new_world(11, 2)
        if share is not None:
            model.set_cores(share, 0.0)
        rows = []
        for k, n in enumerate((2, 5, 1, 8, 3)):
            model.set_replicas(n)
            run_inline(clock.sleep_until(30.0 * k + 10.0))
            rows.append(model.window(30.0 * k + 10.0, 30.0 * k + 30.0))
            run_inline(clock.sleep_until(30.0 * (k + 1)))
        windows.append(rows)
    assert windows[0] == windows[1]
