"""Does an RL agent learn to autoscale better than the baselines? A reproducible experiment.

PPO is trained on the simulator with a periodic workload (the default sine profile), once per
reward preset and training seed, then evaluated next to HPA, KPA, OpenFaaS and the best static
count in hindsight on

* held-out seeds of the training workload (other world seeds than training ever drew), and
* the replayed Azure Functions trace (faastrain_async/evaluation/data/azure-functions-30s.json, scaled so its peak
  fits the 1-10 replica range), a workload the agent never saw.

Run from the repository root (needs the rl and plot extras; about 3 minutes on 2 cores)::

    python benchmarks/learnability.py --out runs/learnability --figures docs/figures

It writes, under ``--out``: the models (``models/``), one evaluation folder per reward preset
and workload (``<reward>/<workload>/``: table, CSV, JSON, PNG), the learning curves
(``learning-<reward>.png``) and ``summary.json``; it prints the markdown tables of
docs/results.md. ``--figures`` copies the figures that page shows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from faastrain_async.cli.logs import configure_logging
from faastrain_async.env.gym_env import FaaSEnv
from faastrain_async.evaluation import evaluate
from faastrain_async.evaluation.plots import timeline, write_plots
from faastrain_async.evaluation.report import aggregates, label, table, write
from faastrain_async.training.model_policy import ModelPolicy
from faastrain_async.training.trainer import TrainConfig, train

SINE = "sine:period=600,low=2,high=40"
TRACE_FILE = "faastrain_async/evaluation/data/azure-functions-30s.json"
#: 43 requests per 30 s at the trace's peak, times 25: about 36 req/s, within 10 replicas of ~5 req/s.
TRACE_SCALE = 25
BASELINES = ["hpa", "kpa", "openfaas", "best-static"]


def workloads(trace_steps: int) -> dict[str, dict[str, Any]]:
    return {
        # 20 steps of 30 s: one period of the sine per episode.
        "sine": {"profile": SINE, "episode_steps": 20},
        # The whole trace (346 intervals of 30 s) in one episode, from its start.
        "trace": {"profile": f"trace:path={TRACE_FILE},scale={TRACE_SCALE}", "episode_steps": trace_steps},
    }


def env_factory(reward: str, profile: str, episode_steps: int) -> Any:
    return lambda: FaaSEnv("sim", profile=profile, reward=reward, episode_steps=episode_steps)


def learning_curve(reward: str, runs: dict[int, list[dict[str, float]]], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for seed, rows in runs.items():
        ax.plot([r["timesteps"] for r in rows], [r["model_reward"] for r in rows], marker="o", ms=3, label=f"PPO, training seed {seed}")
    first = next(iter(runs.values()))
    ax.axhline(first[0]["baseline_reward"], color="black", ls="--", label="HPA")
    ax.set_xlabel("training timesteps")
    ax.set_ylabel("mean total reward per episode")
    ax.set_title(f"PPO on the sine workload, '{reward}' reward (evaluation seed 1000)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/learnability"))
    parser.add_argument("--figures", type=Path, default=None, help="copy the figures of docs/results.md here")
    parser.add_argument("--rewards", nargs="+", default=["normalized", "seed"], choices=["normalized", "seed"])
    parser.add_argument("--train-seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--eval-seeds", nargs="+", type=int, default=[100, 101, 102, 103, 104])
    parser.add_argument("--sine-episodes", type=int, default=4, help="episodes per evaluation seed on the sine")
    parser.add_argument("--trace-steps", type=int, default=345)
    args = parser.parse_args(argv)
    configure_logging(level="warning")
    started = time.perf_counter()
    out: Path = args.out
    summary: dict[str, Any] = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "results": {}}
    loads = workloads(args.trace_steps)
    for reward in args.rewards:
        curves: dict[int, list[dict[str, float]]] = {}
        models: list[Path] = []
        for seed in args.train_seeds:
            t0 = time.perf_counter()
            config = TrainConfig(
                algo="ppo", timesteps=args.timesteps, seed=seed, save=out / "models" / f"ppo-{reward}-seed{seed}",
                eval_every=args.timesteps // 10, eval_seeds=(1000,), eval_episodes=3, baseline="hpa",
            )  # fmt: skip
            result = train(config, env_factory(reward, SINE, loads["sine"]["episode_steps"]))
            curves[seed] = result.evaluations
            models.append(result.model_path)
            print(f"trained ppo ({reward}, seed {seed}) in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        learning_curve(reward, curves, out / f"learning-{reward}.png")
        summary["results"][reward] = {}
        for name, load in loads.items():
            make = env_factory(reward, load["profile"], load["episode_steps"])
            probe = make()
            settings = probe.env.settings
            probe.close()
            agents = [ModelPolicy.load(settings, m) for m in models]
            for agent, seed in zip(agents, args.train_seeds):
                agent.name = f"ppo-seed{seed}"
            episodes = args.sine_episodes if name == "sine" else 1
            ev = evaluate([*BASELINES, *agents], make, seeds=args.eval_seeds, episodes=episodes)
            folder = out / reward / name
            write(ev, folder, {"reward": reward, "workload": name, **load, "seeds": args.eval_seeds, "episodes": episodes})
            write_plots(ev, folder)
            # The whole trace with every policy is unreadable: the first hour, a few policies.
            timeline(ev, folder / "timeline-zoom.png", policies=["hpa", "kpa", "best-static", agents[0].name], max_steps=120)
            text = table(ev)
            (folder / "table.txt").write_text(text + "\n")
            agg = aggregates(ev)
            ppo = [float(np.mean([r.metrics["total_reward"] for r in ev.of(a.name)])) for a in agents]
            hpa = agg["hpa"]["total_reward"].mean
            best = agg["best-static"]["total_reward"].mean
            entry = {
                "policies": {label(ev, p): {m: s._asdict() for m, s in agg[p].items()} for p in ev.policies},
                "ppo_mean_reward": float(np.mean(ppo)),
                "ppo_by_seed": ppo,
                "gain_vs_hpa_pct": [100.0 * (x - hpa) / abs(hpa) for x in ppo],
                "gain_vs_best_static_pct": [100.0 * (x - best) / abs(best) for x in ppo],
                "best_static": ev.chosen["best-static"],
            }
            summary["results"][reward][name] = entry
            print(f"\n### reward={reward}, workload={name}\n\n{text}")
            print("PPO vs HPA: " + ", ".join(f"{g:+.1f}%" for g in entry["gain_vs_hpa_pct"])
                  + "; vs best static: " + ", ".join(f"{g:+.1f}%" for g in entry["gain_vs_best_static_pct"]))  # fmt: skip
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.figures:
        # The figures docs/results.md shows; the rest stay under --out.
        args.figures.mkdir(parents=True, exist_ok=True)
        for reward in args.rewards:
            shutil.copy(out / f"learning-{reward}.png", args.figures / f"learning-{reward}.png")
            for name, kind in (("sine", "timeline"), ("sine", "aggregates"), ("trace", "timeline-zoom")):
                shutil.copy(out / reward / name / f"{kind}.png", args.figures / f"{reward}-{name}-{kind}.png")
    print(f"\ndone in {summary['wall_seconds']}s; results in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
