"""Named, versioned benchmark suites: scenarios × held-out seeds, every policy on the same episodes.

A :class:`Suite` is a list of :class:`Scenario` (a workload family's ranged profile spec) and
held-out seeds. Episode ``e`` of seed ``s`` in a scenario is the world ``SeedSequence([s, e])``
draws (:func:`~faastrain_async.evaluation.harness.episode_seeds`); its profile is the
scenario's spec drawn from that world seed, so every policy faces the same workloads.

:func:`run_bench` runs, per scenario, HPA (the score's 0; another reference may be chosen), each policy given, and every static
count in the replica bounds (the best of which, by mean total reward, is the score's 1: the
best static count in hindsight); each policy's episodes are appended to ``episodes.csv`` as
soon as they finish, and the leaderboard files are rewritten after every scenario
(:mod:`~faastrain_async.evaluation.leaderboard`).

Training seeds, kept apart from the suites' worlds: train with ``reset(seed=S)`` for
``S < 65536`` (``faastrain train --seed S`` starts its ``n`` envs from worlds ``S .. S+n-1``),
or with ``world="new"``, whose worlds are drawn from 63-bit seeds. The suites' world seeds are
32-bit values drawn from their held-out seeds; :class:`Suite` checks that none is below 65536.
"""

from __future__ import annotations

import csv
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from faastrain_async.config import EnvSettings
from faastrain_async.env.gym_env import FaaSEnv
from faastrain_async.env.vector_env import FaaSVectorEnv
from faastrain_async.errors import ConfigError
from faastrain_async.evaluation import leaderboard
from faastrain_async.evaluation.harness import METRICS, SLO, EpisodeResult, as_dict, episode_seeds, evaluate
from faastrain_async.outputs import output_folder, writing
from faastrain_async.policies import make_policy, parse_spec
from faastrain_async.policies.baselines import BestStaticPolicy
from loadgen.families import FAMILIES
from loadgen.profiles import draw_profile

#: The Azure Functions sample trace shipped with the package (346 counts per 30 s).
TRACE_FILE = Path(__file__).with_name("data") / "azure-functions-30s.json"
#: Seeds below this are for training (see the module docstring).
TRAINING_SEEDS_BELOW = 65536
#: The policy a score of 0 stands for.
REFERENCE = "hpa"


@dataclass(frozen=True)
class Scenario:
    """One workload of a suite: a family's profile spec (with ranges, drawn per episode)."""

    name: str
    profile: str
    #: Bursty families: sudden surges a fixed count must be sized for.
    bursty: bool
    summary: str


def _family(name: str, bursty: bool) -> Scenario:
    family = FAMILIES[name]
    assert family.mix_default is not None
    return Scenario(name, family.mix_default, bursty, family.summary)


def trace_scenario() -> Scenario:
    """Replay of the shipped Azure Functions sample from a seeded random offset, counts × 50
    (peaks of about 72 req/s: 30-60 s spikes every 6-7 minutes over an idle floor)."""
    return Scenario("trace", f"trace:path={TRACE_FILE},scale=50,offset=random", True, "replay of the Azure Functions sample trace")


@dataclass(frozen=True)
class Suite:
    """A named, versioned set of scenarios and held-out seeds; see the module docstring."""

    name: str
    scenarios: tuple[Scenario, ...]
    seeds: tuple[int, ...]
    episodes: int
    episode_steps: int
    description: str
    #: The world seeds of its episodes (derived: the same for every scenario).
    worlds: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        worlds = tuple(w for _, _, w in episode_seeds(self.seeds, self.episodes))
        low = [w for w in worlds if w < TRAINING_SEEDS_BELOW]
        if low:
            raise ConfigError(f"suite {self.name}: world seeds {low} fall among the training seeds (< {TRAINING_SEEDS_BELOW})")
        object.__setattr__(self, "worlds", worlds)

    def select(self, names: Sequence[str]) -> Suite:
        """This suite with only the scenarios ``names`` (in the suite's order)."""
        known = [s.name for s in self.scenarios]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"unknown scenario {unknown[0]!r} in suite {self.name}; its scenarios: {', '.join(known)}")
        chosen = tuple(s for s in self.scenarios if s.name in names)
        return Suite(self.name, chosen, self.seeds, self.episodes, self.episode_steps, self.description)

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["worlds"] = list(self.worlds)
        return d


def _suites() -> dict[str, Suite]:
    families = (
        _family("steady", False), _family("sine", False), _family("diurnal", False), _family("step", False),
        _family("flash", True), _family("onoff", True), _family("azure", True), trace_scenario(),
    )  # fmt: skip
    quick = tuple(s for s in families if s.name in ("sine", "flash", "onoff"))
    return {
        "faastrain-v1": Suite(
            "faastrain-v1", families, tuple(range(9000, 9010)), 2, 20,
            "8 scenarios (7 workload families' default ranges and the Azure sample replay) x 10 held-out seeds "
            "(9000-9009) x 2 episodes of 20 steps",
        ),
        "faastrain-v1-quick": Suite(
            "faastrain-v1-quick", quick, (9000, 9001), 1, 10,
            "the sine, flash and onoff scenarios of faastrain-v1 x 2 held-out seeds x 1 episode of 10 steps (for CI)",
        ),
    }  # fmt: skip


#: The suites by name.
SUITES: dict[str, Suite] = _suites()


def suite_named(name: str) -> Suite:
    if name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    return SUITES[name]


@dataclass
class ScenarioResult:
    """Every policy's episodes in one scenario (static counts included), and the best count."""

    scenario: Scenario
    episodes: dict[str, list[EpisodeResult]]
    #: The best static count in hindsight, as a spec (``static:4``).
    best_static: str
    seconds: dict[str, float]


@dataclass
class BenchResult:
    suite: Suite
    policies: list[str]
    scenarios: list[ScenarioResult]
    config: dict[str, Any]


#: Builds the env of a scenario from its overrides (profile, episode_steps).
MakeEnv = Callable[[dict[str, Any]], FaaSEnv]
MakeVectorEnv = Callable[[dict[str, Any], int], FaaSVectorEnv]
#: (scenario, policy, episodes, seconds) after each policy's run of a scenario.
BenchProgress = Callable[[str, str, int, float], None]


def check_policies(policies: Sequence[str], settings: EnvSettings, reference: str = REFERENCE) -> list[str]:
    """The policies to rank, each built once now so that a bad spec fails before anything runs.

    The reference (the score's 0, HPA by default) comes first, added when missing;
    ``best-static`` is left out, since the bench always ranks the best static count.
    """
    out = []
    for spec in [reference, *policies]:
        name, _ = parse_spec(spec)
        if name == "best-static":
            if spec == reference:
                raise ConfigError("the reference policy (the score's 0) cannot be best-static, which is the score's 1")
            continue
        make_policy(spec, settings)
        if spec in out:
            if spec != reference:
                raise ConfigError(f"policy {spec!r} is listed twice")
            continue
        out.append(spec)
    return out


class EpisodeLog:
    """``episodes.csv``: a row per episode, each policy's rows on disk as soon as they are in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with writing(path):
            self._file: IO[str] = path.open("w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=["scenario", "policy", "seed", "episode", "world_seed", *METRICS, "profile"])
        with writing(path):
            self._writer.writeheader()

    def add(self, scenario: Scenario, results: Sequence[EpisodeResult]) -> None:
        with writing(self.path):
            for r in results:
                self._writer.writerow({"scenario": scenario.name, **as_dict(r), "profile": draw_profile(scenario.profile, r.world_seed).spec})
            self._file.flush()

    def close(self) -> None:
        with writing(self.path):
            self._file.close()


def run_bench(
    suite: Suite,
    policies: Sequence[str],
    make_env: MakeEnv,
    *,
    out: Path,
    make_vector_env: MakeVectorEnv | None = None,
    progress: BenchProgress | None = None,
    config: dict[str, Any] | None = None,
    plots: bool = True,
    reference: str = REFERENCE,
) -> BenchResult:
    """Run ``policies`` (and ``reference``, and every static count) on every scenario of ``suite``.

    ``make_env(overrides)`` builds a scalar env with the scenario's ``profile`` and
    ``episode_steps``; ``make_vector_env(overrides, n)`` (the simulator) a vector env of ``n``.
    Writes into ``out`` as it goes (see the module docstring); returns everything.
    """
    first = {"profile": suite.scenarios[0].profile, "episode_steps": suite.episode_steps}
    probe = make_env(first)
    try:
        settings = probe.env.settings
    finally:
        probe.close()
    ranked = check_policies(policies, settings, reference)
    statics = [f"static:{n}" for n in BestStaticPolicy(settings).candidates]
    output_folder(out)
    result = BenchResult(suite, ranked, [], {**(config or {}), "policies": ranked, "reference": reference, "suite": suite.describe()})
    log = EpisodeLog(out / "episodes.csv")
    try:
        for scenario in suite.scenarios:
            overrides = {"profile": scenario.profile, "episode_steps": suite.episode_steps}
            vector = None if make_vector_env is None else functools.partial(make_vector_env, overrides)
            episodes: dict[str, list[EpisodeResult]] = {}
            seconds: dict[str, float] = {}
            for spec in [*ranked, *(s for s in statics if s not in ranked)]:
                started = time.perf_counter()
                run = evaluate(
                    [spec], functools.partial(make_env, overrides), seeds=suite.seeds, episodes=suite.episodes,
                    slo=SLO(p95_seconds=settings.reward.slo_seconds), make_vector_env=vector,
                )  # fmt: skip
                episodes[spec] = run.results
                seconds[spec] = time.perf_counter() - started
                log.add(scenario, run.results)
                if progress is not None:
                    progress(scenario.name, spec, len(run.results), seconds[spec])
            scores = {int(s.split(":")[1]): float(np.mean([r.metrics["total_reward"] for r in episodes[s]])) for s in statics}
            best = f"static:{BestStaticPolicy(settings).choose(scores)}"
            result.scenarios.append(ScenarioResult(scenario, episodes, best, seconds))
            leaderboard.write(result, out, plots=False)  # the scenarios so far, on disk before the next begins
    finally:
        log.close()
    leaderboard.write(result, out, plots=plots)
    return result

