"""Four agents on one simulated node whose cores bind: a shared PPO policy against four HPAs.

Four CPU-heavy functions (half of each request's 0.2 s on the CPU) share a node of 3 cores.
Each follows its own sine (period 600 s, 1 to 10 req/s, phases 0, 1/8, 2/8 and 3/8 of a
period), so their peaks partly overlap and the node's cores bind around the joint peak, the more so the
more idle replicas the functions keep. One PPO policy acts for all four agents (parameter
sharing: faastrain_async.multi.shared), trained on the team's mean reward; it is compared
with one Kubernetes HPA per function, and with the best static count in hindsight (the same
count for every function), on the same seeded episodes (held-out world seeds).

Run from the repository root (needs the rl, plot and multi extras)::

    python benchmarks/multi_agent.py --out runs/multi-agent --figures docs/figures

It prints the speed of a joint step, the comparison table and the gain, and writes under
``--out`` ``summary.json``, the per-step rows (``steps.csv``) and the plots:
``interference.png`` (each function's execution time against the other functions'
replicas), ``timeline.png`` (one episode, each function's replicas and load under both
policies) and ``learning.png``. ``--speed`` only measures the step.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from faastrain_async.multi import parallel_env
from faastrain_async.multi.parallel import FaaSParallelEnv

FUNCTIONS = ["fn-a", "fn-b", "fn-c", "fn-d"]
#: Peaks an eighth of a period (75 s) apart: they overlap, and the node's cores bind around them.
PROFILES = {f: f"sine:period=600,low=1,high=10,phase={0.125 * i:g}" for i, f in enumerate(FUNCTIONS)}
#: One request at a time per replica (5 req/s), queued past that; half of a request's 0.2 s on the
#: CPU; a replica requests half a core and idles at 0.05. Every setting that matters is pinned
#: here, so the scenario does not move with the simulator's defaults.
SIM = {
    "service_time": 0.2, "service_time_cv": 0.5, "concurrency": 1, "replica_rate": 5.0, "overload": "queue",
    "request_timeout": 10.0, "cpu_per_request": 0.1, "cpu_request": 0.5, "idle_cpu": 0.05,
    "cold_start": 3.0, "cold_start_cv": 0.3, "termination": 0.2, "termination_cv": 0.5, "grace_period": 5.0,
}  # fmt: skip
CORES = 3.0
EPISODE_STEPS = 20  # one period of the sines


def make_env(cooperative: str = "mean", reward: str = "normalized", cores: float | None = CORES) -> FaaSParallelEnv:
    return parallel_env(
        functions=FUNCTIONS, profiles=PROFILES, sim=SIM, cores=cores, observe_free_cores=cores is not None,
        cooperative=cooperative, reward=reward, episode_steps=EPISODE_STEPS,
    )  # fmt: skip


# -- speed --------------------------------------------------------------------------------------
def joint_step_speed(functions: int, cores: float | None, overload: str = "queue", steps: int = 20_000) -> float:
    """Microseconds per joint step with random actions (best of three runs)."""
    env = parallel_env(functions=FUNCTIONS[:functions], profiles={f: PROFILES[f] for f in FUNCTIONS[:functions]},
                       sim={**SIM, "overload": overload}, cores=cores, episode_steps=10**9)  # fmt: skip
    rng = np.random.default_rng(0)
    actions = [{a: int(x) for a, x in zip(env.possible_agents, row)} for row in rng.integers(0, 11, (steps, functions))]
    best = np.inf
    for _ in range(3):
        env.reset(seed=0)
        t0 = time.perf_counter()
        for joint in actions:
            env.step(joint)
        best = min(best, (time.perf_counter() - t0) / steps)
    env.close()
    return float(best * 1e6)


def speed() -> dict[str, float]:
    figures = {
        "1 function, cores bind": joint_step_speed(1, CORES),
        "4 functions, no cores limit": joint_step_speed(4, None),
        "4 functions, cores bind": joint_step_speed(4, CORES),
        # A rejecting function's loss tables depend on its cores: they are rebuilt every window.
        "4 functions, cores bind, reject": joint_step_speed(4, CORES, "reject", steps=2_000),
    }
    for name, us in figures.items():
        print(f"joint step, {name:<36} {us:8.1f} µs   {1e6 / us:9.0f} steps/s")
    return figures


# -- policies -----------------------------------------------------------------------------------
class HPAs:
    """One Kubernetes HPA (CPU, target 0.7) per function."""

    name = "hpa"

    def __init__(self, env: FaaSParallelEnv) -> None:
        from faastrain_async.policies.baselines import HPAPolicy

        self.policies = {a: HPAPolicy(env.core.settings) for a in env.possible_agents}

    def reset(self) -> None:
        for p in self.policies.values():
            p.reset()

    def act(self, obs: dict[str, np.ndarray], infos: dict[str, dict[str, Any]]) -> dict[str, int]:
        return {a: p.act(obs[a][:6], infos[a]) for a, p in self.policies.items()}


class Static:
    """The same fixed replica count for every function."""

    def __init__(self, replicas: int, env: FaaSParallelEnv) -> None:
        self.replicas = replicas
        self.settings = env.core.settings
        self.name = f"static:{replicas}"

    def reset(self) -> None:
        return None

    def act(self, obs: dict[str, np.ndarray], infos: dict[str, dict[str, Any]]) -> dict[str, int]:
        from faastrain_async.env.actions import action_for

        return {a: action_for(self.replicas, int(infos[a]["target"]), self.settings) for a in obs}


class Shared:
    """The trained PPO model, acting for every agent."""

    name = "ppo-shared"

    def __init__(self, model: Any, env: FaaSParallelEnv, history: int) -> None:
        from faastrain_async.multi.features import AgentFeatures

        self.model = model
        self.features = AgentFeatures(env, history)

    def reset(self) -> None:
        self.features.reset()

    def act(self, obs: dict[str, np.ndarray], infos: dict[str, dict[str, Any]]) -> dict[str, int]:
        from faastrain_async.multi.shared import shared_policy_actions

        return shared_policy_actions(self.model, self.features, obs, infos)


def run_episodes(policy: Any, env: FaaSParallelEnv, seeds: list[int], episodes: int) -> list[dict[str, Any]]:
    """One row per (episode, step, agent)."""
    rows = []
    for seed in seeds:
        for episode in range(episodes):
            world = int(np.random.SeedSequence([seed, episode]).generate_state(1)[0])
            obs, infos = env.reset(seed=world)
            policy.reset()
            step = 0
            while env.agents:
                actions = policy.act(obs, infos)
                obs, rewards, _, _, infos = env.step(actions)
                step += 1
                replicas = {a: infos[a]["replicas"] for a in env.possible_agents}
                for a in env.possible_agents:
                    i, o = infos[a], obs[a]
                    rows.append({
                        "policy": policy.name, "seed": seed, "episode": episode, "step": step, "agent": a,
                        "reward": i.get("own_reward", rewards[a]), "throughput_pct": float(o[1]), "exec_s": float(o[0]),
                        "replicas": i["replicas"], "others_replicas": sum(replicas.values()) - replicas[a],
                        "cores_available": i["cores_available"], "free_cores": i["free_cores"],
                        "load_rps": i["load_intended_rps"], "requests": i["requests"], "successes": i["successes"],
                    })  # fmt: skip
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per policy: the team's total reward per episode (mean and 95% CI) and the means of the rest."""
    from faastrain_async.evaluation.stats import aggregate

    out: dict[str, Any] = {}
    for name in dict.fromkeys(r["policy"] for r in rows):
        mine = [r for r in rows if r["policy"] == name]
        totals: dict[tuple[int, int], float] = {}
        for r in mine:
            totals[(r["seed"], r["episode"])] = totals.get((r["seed"], r["episode"]), 0.0) + r["reward"]
        requests = sum(r["requests"] for r in mine)
        out[name] = {
            "team_reward": aggregate(list(totals.values()))._asdict(),
            "throughput_pct": 100.0 * sum(r["successes"] for r in mine) / max(requests, 1e-9),
            "exec_s": float(np.mean([r["exec_s"] for r in mine])),
            "replicas_per_function": float(np.mean([r["replicas"] for r in mine])),
            "free_cores": float(np.mean([r["free_cores"] for r in mine])),
        }
    return out


# -- plots --------------------------------------------------------------------------------------
def _figure(rows_cols: tuple[int, int], size: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(*rows_cols, squeeze=False)


def plot_interference(rows: list[dict[str, Any]], path: Path) -> None:
    fig, axes = _figure((1, 2), (11, 4.2))
    colours = {"hpa": "tab:orange", "best-static": "tab:green", "ppo-shared": "tab:blue"}
    for name, colour in colours.items():
        mine = [r for r in rows if r["policy"] == name]
        axes[0, 0].scatter([r["others_replicas"] for r in mine], [r["exec_s"] for r in mine], s=6, alpha=0.35, color=colour, label=name)
        axes[0, 1].scatter([r["cores_available"] for r in mine], [r["exec_s"] for r in mine], s=6, alpha=0.35, color=colour, label=name)
    axes[0, 0].set_xlabel("the other three functions' replicas")
    axes[0, 1].set_xlabel("cores the function had in the window")
    axes[0, 1].set_xscale("log")
    for ax in axes[0]:
        ax.set_ylabel("mean execution time (s)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Interference on a {CORES:g}-core node: each function's execution time against the others' use")
    fig.tight_layout()
    fig.savefig(path)


def plot_timeline(rows: list[dict[str, Any]], path: Path) -> None:
    fig, axes = _figure((len(FUNCTIONS), 1), (9, 9))
    seed, episode = rows[0]["seed"], rows[0]["episode"]
    for k, agent in enumerate(FUNCTIONS):
        ax = axes[k, 0]
        load_ax = ax.twinx()
        for name, colour in (("hpa", "tab:orange"), ("best-static", "tab:green"), ("ppo-shared", "tab:blue")):
            mine = [r for r in rows if r["policy"] == name and r["agent"] == agent and r["seed"] == seed and r["episode"] == episode]
            ax.step([r["step"] for r in mine], [r["replicas"] for r in mine], where="post", color=colour, label=f"{name} replicas")
            if name == "hpa":
                load_ax.plot([r["step"] for r in mine], [r["load_rps"] for r in mine], color="grey", ls=":", label="load (req/s)")
        ax.set_ylabel(agent)
        ax.set_ylim(0, 10.5)
        load_ax.set_ylim(0, 11)
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(fontsize=8, loc="upper left")
            load_ax.legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel("step (30 s)")
    fig.suptitle(f"One held-out episode: replicas of each function, {CORES:g} shared cores")
    fig.tight_layout()
    fig.savefig(path)


def plot_learning(curve: list[tuple[int, float]], hpa: float, path: Path) -> None:
    fig, axes = _figure((1, 1), (7, 4))
    ax = axes[0, 0]
    ax.plot([c[0] for c in curve], [c[1] for c in curve], marker="o", ms=3, label="shared PPO")
    ax.axhline(hpa, color="black", ls="--", label="4 HPAs")
    ax.set_xlabel("training timesteps (agent steps)")
    ax.set_ylabel("team reward per episode")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


# -- main ---------------------------------------------------------------------------------------
def train(timesteps: int, seed: int, copies: int, history: int, evaluate_every: int, hpa_score: float, eval_seed: int) -> tuple[Any, list[tuple[int, float]]]:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecNormalize

    from faastrain_async.multi.shared import SharedPolicyVecEnv

    torch.set_num_threads(1)
    vec = SharedPolicyVecEnv(make_env, copies=copies, history=history)
    vec.seed(seed)
    env = VecNormalize(vec, norm_obs=False, norm_reward=True, gamma=0.95)
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=256, n_epochs=10, gamma=0.95, gae_lambda=0.95, ent_coef=0.01,
                learning_rate=3e-4, seed=seed, device="cpu", verbose=0, policy_kwargs={"net_arch": [64, 64]})  # fmt: skip
    probe = make_env()
    curve: list[tuple[int, float]] = []

    class Curve(BaseCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.next_at = evaluate_every

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_at:
                self.next_at += evaluate_every
                rows = run_episodes(Shared(model, probe, history), probe, [eval_seed], 2)
                curve.append((self.num_timesteps, summarise(rows)["ppo-shared"]["team_reward"]["mean"]))
                print(f"  {self.num_timesteps:>7} timesteps: team reward {curve[-1][1]:.2f} (4 HPAs {hpa_score:.2f})", file=sys.stderr)
            return True

    model.learn(total_timesteps=timesteps, callback=Curve())
    probe.close()
    vec.close()
    return model, curve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/multi-agent"))
    parser.add_argument("--figures", type=Path, default=None, help="copy the figures of docs/results-multi-agent.md here")
    parser.add_argument("--timesteps", type=int, default=300_000, help="training agent steps (4 per joint step)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copies", type=int, default=2, help="environments trained on at once")
    parser.add_argument("--eval-seeds", nargs="+", type=int, default=[100, 101, 102, 103, 104])
    parser.add_argument("--episodes", type=int, default=4, help="episodes per evaluation seed")
    parser.add_argument("--speed", action="store_true", help="only measure a joint step's speed")
    args = parser.parse_args(argv)
    from faastrain_async.cli.logs import configure_logging

    configure_logging(level="warning")
    started = time.perf_counter()
    figures = speed()
    if args.speed:
        return 0
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    env = make_env()
    hpa_rows = run_episodes(HPAs(env), env, args.eval_seeds, args.episodes)
    statics = {k: run_episodes(Static(k, env), env, args.eval_seeds, args.episodes) for k in range(1, 11)}
    best = max(statics, key=lambda k: summarise(statics[k])[f"static:{k}"]["team_reward"]["mean"])
    static_rows = [{**r, "policy": "best-static"} for r in statics[best]]
    hpa_probe = summarise(run_episodes(HPAs(env), env, [1000], 2))["hpa"]["team_reward"]["mean"]
    t0 = time.perf_counter()
    model, curve = train(args.timesteps, args.seed, args.copies, 2, max(args.timesteps // 10, 1), hpa_probe, 1000)
    train_seconds = time.perf_counter() - t0
    model.save(str(out / "ppo-shared.zip"))
    ppo_rows = run_episodes(Shared(model, env, 2), env, args.eval_seeds, args.episodes)
    env.close()
    rows = hpa_rows + static_rows + ppo_rows
    with (out / "steps.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    results = summarise(rows)
    hpa, ppo = results["hpa"]["team_reward"]["mean"], results["ppo-shared"]["team_reward"]["mean"]
    gain = 100.0 * (ppo - hpa) / abs(hpa)
    print(f"\n{'policy':<12}{'team reward':>20}{'thr %':>9}{'exec s':>9}{'replicas/fn':>13}{'free cores':>12}")
    for name, r in results.items():
        t = r["team_reward"]
        print(f"{name:<12}{t['mean']:>12.2f} ± {t['ci95']:<5.2f}{r['throughput_pct']:>9.2f}{r['exec_s']:>9.3f}"
              f"{r['replicas_per_function']:>13.2f}{r['free_cores']:>12.2f}")  # fmt: skip
    static = results["best-static"]["team_reward"]["mean"]
    print(f"\nbest static: {best} replicas per function")
    print(f"shared PPO vs 4 HPAs: {gain:+.1f}% team reward, vs best static {100.0 * (ppo - static) / abs(static):+.1f}% "
          f"({args.timesteps} agent steps, {train_seconds:.0f} s of training)")
    plot_interference(rows, out / "interference.png")
    plot_timeline(rows, out / "timeline.png")
    plot_learning(curve, hpa_probe, out / "learning.png")
    summary = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "scenario": {"functions": FUNCTIONS, "profiles": PROFILES, "sim": SIM, "cores": CORES, "episode_steps": EPISODE_STEPS},
        "speed_us_per_joint_step": figures, "results": results, "gain_vs_hpa_pct": gain, "best_static": best,
        "gain_vs_best_static_pct": 100.0 * (ppo - static) / abs(static), "learning_curve": curve,
        "train_seconds": round(train_seconds, 1), "wall_seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.figures:
        args.figures.mkdir(parents=True, exist_ok=True)
        for name in ("interference", "timeline", "learning"):
            shutil.copy(out / f"{name}.png", args.figures / f"multi-agent-{name}.png")
    print(f"done in {summary['wall_seconds']}s; results in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
