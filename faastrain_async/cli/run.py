"""``faastrain run``: one policy in the environment, step by step."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from faastrain_async.backends import BACKENDS
from faastrain_async.backends.kubernetes.settings import KubernetesSettings
from faastrain_async.config import (
    ACTION_MODES, EPISODE_ENDS, OBSERVATION_DTYPES, OBSERVATIONS, PRESETS, REWARD_PRESETS, WORLD_POLICIES, EnvSettings,
)  # fmt: skip
from faastrain_async.env.async_env import check_seed
from faastrain_async.env.gym_env import FaaSEnv
from faastrain_async.env.vector_env import FaaSVectorEnv
from faastrain_async.errors import ConfigError
from faastrain_async.cli.interrupts import held_interrupts, signal_of
from faastrain_async.outputs import write_text, writing
from faastrain_async.policies import POLICIES, Policy, make_policy
from faastrain_async.rollout import StepRow, StepWriter, rollout, summarize

#: Longer runs show a progress line instead of a line per step (unless --verbose).
STEP_LINES_UP_TO = 200


def policy_names() -> str:
    """Every policy :func:`make_policy` knows, for the help of the options that take one."""
    return ", ".join(POLICIES)


def key_values(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """``["a=1", "b=x", "c=true"]`` as ``{"a": 1, "b": "x", "c": True}`` (numbers and booleans where they parse)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, eq, text = pair.partition("=")
        if not eq or not key:
            raise ConfigError(f"--{what} {pair!r}: expected KEY=VALUE")
        value: Any = {"true": True, "false": False}.get(text.lower(), text)
        for convert in (int, float) if isinstance(value, str) else ():
            try:
                value = convert(text)
                break
            except ValueError:
                pass
        out[key.replace("-", "_")] = value
    return out


#: The environment options that set an EnvSettings field of the same name.
ENV_OPTIONS: dict[str, tuple[type, str]] = {
    "profile": (str, "workload profile spec"),
    "interval": (float, "measurement window, seconds"),
    "episode_steps": (int, "steps per episode"),
    "action_mode": (str, "delta: Discrete(2*max_delta+1); updown: Discrete(2)"),
    "max_delta": (int, "largest replica change of one action (delta mode)"),
    "reward": (str, "reward function (docs/environment.md)"),
    "min_replicas": (int, "fewest replicas (also the replicas at each reset)"),
    "max_replicas": (int, "most replicas"),
    "settle_timeout": (float, "longest wait for the replicas to settle, seconds"),
    "episode_end": (str, "what the last step of an episode reports"),
    "observation_dtype": (str, "dtype of the observations"),
    "observation": (str, "default: FaaSTrainGym's six columns; rich: also recent rates, replicas in flight, timings, p95"),
    "world": (str, "sim: what a reset without a seed does: continue the world, or begin a new one (a new draw of a ranged or mix: profile)"),
}
_CHOICES = {
    "action_mode": ACTION_MODES, "reward": REWARD_PRESETS, "episode_end": EPISODE_ENDS, "observation_dtype": OBSERVATION_DTYPES,
    "observation": OBSERVATIONS, "world": WORLD_POLICIES,
}  # fmt: skip


def add_env_arguments(parser: argparse.ArgumentParser) -> None:
    """The environment's options, shared by every command that makes an env."""
    d = EnvSettings()  # the defaults are the environment's own
    env = parser.add_argument_group("environment")
    env.add_argument("--backend", choices=BACKENDS, default="sim", help="where the replicas live")
    env.add_argument(
        "--preset", choices=tuple(PRESETS), default=None,
        help="the settings agents written for FaaSTrainGym or DRe-SCale expect (docs/migration.md); options below override it",
    )  # fmt: skip
    preset_sets = {name for values in PRESETS.values() for name in values}
    for name, (kind, text) in ENV_OPTIONS.items():
        default = d.reward.preset if name == "reward" else getattr(d, name)
        # None unless given, so that a default does not override the preset; the help tells the default.
        unless = ", or the preset's" if name in preset_sets else ""
        env.add_argument(
            f"--{name.replace('_', '-')}", type=kind, choices=_CHOICES.get(name), default=None,
            help=f"{text} (default: {default}{unless})",
        )  # fmt: skip
    env.add_argument("--sim", action="append", metavar="KEY=VALUE", help="a simulator setting, e.g. --sim cold_start=5")
    env.add_argument("--calibration", metavar="PATH",
                     help="sim backend: start from a calibration file's parameters (faastrain calibrate); --sim keys win")
    env.add_argument("--kube", action="append", metavar="KEY=VALUE", help="a kubernetes backend setting, e.g. --kube kubeconfig=PATH")
    env.add_argument(
        "--local-cluster", action="store_true",
        help="kubernetes backend: use the local cluster that `faastrain local up` runs, or start a private one if none runs",
    )  # fmt: skip
    env.add_argument("--state-dir", help="with --local-cluster: the state directory of the running local cluster (default: local up's)")


def env_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The environment settings the options give: those given, and the preset."""
    given = {name: getattr(args, name) for name in ENV_OPTIONS if getattr(args, name) is not None}
    if args.min_replicas is not None:
        given["initial_replicas"] = args.min_replicas
    return {"preset": args.preset, **given}


def env_arguments(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The backend and the env's keyword arguments the arguments describe."""
    kwargs = env_keywords(args)
    if args.state_dir is not None and not args.local_cluster:
        raise ConfigError("--state-dir names a running local cluster; it needs --local-cluster")
    if args.backend == "sim":
        if args.kube or args.local_cluster:
            raise ConfigError("--kube and --local-cluster need --backend kubernetes")
        kwargs["sim"] = key_values(args.sim, "sim")
        if args.calibration:
            kwargs["sim"]["calibration"] = args.calibration
    elif args.calibration:
        raise ConfigError("--calibration describes the simulated function; it needs --backend sim")
    else:
        kube = key_values(args.kube, "kube")
        kwargs["local_cluster"] = args.local_cluster and not attach_local_cluster(kube, args.state_dir)
        kwargs["kubernetes"] = kube
    return args.backend, kwargs


def make_env(args: argparse.Namespace, render_mode: str | None = None) -> FaaSEnv:
    """The env the arguments describe."""
    backend, kwargs = env_arguments(args)
    return FaaSEnv(backend, render_mode=render_mode, **kwargs)


def make_vector_env(args: argparse.Namespace, n: int) -> FaaSVectorEnv:
    """``n`` simulated envs as the arguments describe them, as one vector env."""
    env = make_env(args)
    try:
        return FaaSVectorEnv.like(env.env, n)
    finally:
        env.close()


#: Kubernetes settings a running local cluster decides when the env uses it.
_CLUSTER_KEYS = ("kubeconfig", "context", "in_cluster", "prometheus_url", "gateway_url",
                 "local_function_kind", "local_cold_start", "local_scrape_interval")  # fmt: skip


def attach_local_cluster(kube: dict[str, Any], state_dir: str | None) -> bool:
    """Point ``kube`` at the local cluster running in ``state_dir`` (default: local up's) and
    return True; return False, saying so, when none runs there and none was named.

    The running cluster is the one whose record, lock and process agree (see
    ``faastrain_async.local.statedir``); it must serve the function and run Prometheus.
    """
    from faastrain_async.local.statedir import default_state_dir, resolve, running

    where = resolve(state_dir if state_dir is not None else default_state_dir())
    record = running(where)
    if record is None:
        if state_dir is not None:
            raise ConfigError(f"--state-dir {state_dir}: no local cluster runs there; start one with "
                              f"`faastrain local up --state-dir {state_dir}`, or leave out --state-dir for a private one")  # fmt: skip
        print(f"faastrain: no local cluster runs in {where}; starting a private one, stopped when this command ends", file=sys.stderr)
        return False
    given = [key for key in _CLUSTER_KEYS if key in kube]
    if given:
        raise ConfigError(f"--kube {given[0]}=...: the running local cluster in {where} decides it; leave it out, or drop --local-cluster")
    function = kube.get("function", KubernetesSettings().function)
    if function not in record["functions"]:
        raise ConfigError(f"function {function!r} is not served by the local cluster in {where}; "
                          f"it serves {', '.join(record['functions'])} (choose one with --kube function=NAME)")  # fmt: skip
    if record["prometheus_url"] is None:
        raise ConfigError(f"the local cluster in {where} runs without Prometheus (--no-prometheus); the env needs one")
    kube.update(kubeconfig=record["kubeconfig"], prometheus_url=record["prometheus_url"], gateway_url=record["gateway_url"])
    print(f"faastrain: using the local cluster in {where} (pid {record['pid']}, gateway {record['gateway_url']})", file=sys.stderr)
    return True


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("run", help="run a policy in the environment and record every step")
    parser.add_argument("--policy", default="threshold", help=f"a policy spec, NAME[:key=value,...]; NAME is one of {policy_names()}")
    parser.add_argument("--steps", type=int, default=100, help="steps to run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the world and of the policy")
    parser.add_argument("--out", type=Path, help="folder for steps.jsonl|csv and summary.json")
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="format of the steps file")
    parser.add_argument("--verbose", action="store_true", help=f"a line per step even past {STEP_LINES_UP_TO} steps")
    add_env_arguments(parser)
    parser.set_defaults(func=run)


def _progress(done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    end = "\r" if sys.stdout.isatty() else "\n"
    print(f"step {done}/{total} ({100 * done / total:3.0f}%), {rate:,.0f} steps/s", end=end, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the policy; every finished step is on disk before the next begins.

    Everything is checked (steps, env, policy, output folder) before an output file is
    touched. SIGINT / SIGTERM end the run early: the env is closed and the summary of the
    steps done is written, marked ``interrupted``; then the interrupt goes on (exit 130/143).
    """
    if args.steps < 1:
        raise ConfigError(f"--steps {args.steps}: need at least 1")
    check_seed(args.seed, "--seed")
    env = make_env(args, render_mode="ansi")
    rows: list[StepRow] = []
    interrupted: KeyboardInterrupt | None = None
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.callback(env.close)  # last out: after the summary is written
        policy = make_policy(args.policy, env.env.settings)
        writer = stack.enter_context(StepWriter(args.out, args.format)) if args.out else None
        if args.out:
            with writing(args.out / "summary.json"):
                (args.out / "summary.json").unlink(missing_ok=True)  # no earlier run's summary beside these steps
        try:
            _roll(env, policy, args, writer, rows, started)
        except KeyboardInterrupt as stop:
            interrupted = stop
        settings = env.env.settings
        summary = summarize(rows, settings.interval)
        summary.update(policy=args.policy, backend=args.backend, preset=args.preset, profile=settings.profile, seed=args.seed,
                       wall_seconds=round(time.perf_counter() - started, 3))  # fmt: skip
        if interrupted is not None:
            summary["interrupted"] = signal_of(interrupted).name
        if not (args.verbose or args.steps <= STEP_LINES_UP_TO) and sys.stdout.isatty():
            print()
        print(json.dumps(summary, indent=2))
        if args.out:
            write_text(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    if interrupted is not None:
        raise interrupted
    return 0


def _roll(env: FaaSEnv, policy: Policy, args: argparse.Namespace, writer: StepWriter | None, rows: list[StepRow], started: float) -> None:
    lines = args.verbose or args.steps <= STEP_LINES_UP_TO
    every = max(1, args.steps // 100)
    done = 0
    for row in rollout(env, policy, steps=args.steps, seed=args.seed):
        with held_interrupts():  # the row on disk and in the summary, or in neither
            if writer:
                writer.write(row)
            rows.append(row)
        done += row.action is not None
        if lines:
            print(env.render(), flush=True)
        elif row.action is not None and (done % every == 0 or done == args.steps):
            _progress(done, args.steps, started)
