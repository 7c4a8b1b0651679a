"""The built-in function kinds and their per-kind defaults (no cluster needed)."""

from __future__ import annotations

import argparse
import time

import pytest

from faastrain_async.cli.local import function_specs
from faastrain_async.errors import ConfigError
from faastrain_async.local.functions import build_handler, make_api
from faastrain_async.local.pods import replica_environment
from faastrain_async.local.settings import KIND_DEFAULTS, FunctionSpec


def test_the_default_function_is_api_two_in_flight() -> None:
    spec = FunctionSpec()
    assert (spec.name, spec.kind, spec.max_inflight, spec.sleep_seconds) == ("api", "api", 2, (0.15, 0.25))


@pytest.mark.parametrize("kind", sorted(KIND_DEFAULTS))
def test_unset_fields_take_the_kinds_defaults_and_given_ones_win(kind: str) -> None:
    spec = FunctionSpec("f", kind=kind)
    defaults = KIND_DEFAULTS[kind]
    assert (spec.max_inflight, spec.matmul_size, spec.sleep_seconds) == (
        defaults.max_inflight, defaults.matmul_size, defaults.sleep_seconds,
    )
    assert FunctionSpec("f", kind=kind, max_inflight=5).max_inflight == 5
    with pytest.raises(ConfigError, match="max_inflight=0"):
        FunctionSpec("f", kind=kind, max_inflight=0)


async def test_api_waits_then_multiplies() -> None:
    handler = make_api((0.05, 0.06), (3, 3), seed=1)
    started = time.perf_counter()
    result = await handler(b"")
    took = time.perf_counter() - started
    assert 0.05 <= result["waited"] <= 0.06 and result["n"] == 3
    assert took >= result["waited"]
    assert 0.0 <= result["trace"] < 9.0


def test_build_handler_knows_every_builtin_kind() -> None:
    for kind in KIND_DEFAULTS:
        assert callable(build_handler(kind, matmul_size=(2, 2), sleep_seconds=(0.0, 0.0)))


def test_replicas_get_one_blas_thread_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    env = replica_environment("test")
    assert env["OPENBLAS_NUM_THREADS"] == "1" and env["OMP_NUM_THREADS"] == "3"


def test_local_up_serves_api_by_default_with_its_own_defaults() -> None:
    args = argparse.Namespace(
        function=None, replicas=1, cold_start=0.0, matmul_size=None, sleep=None, max_inflight=None,
        timeout=10.0, cpu_request="100m", memory_request="128Mi",
    )
    (spec,) = function_specs(args)
    assert spec == FunctionSpec()
    args.function, args.max_inflight = ["matmul", "nap=sleep"], 4
    matmul, nap = function_specs(args)
    assert (matmul.kind, matmul.matmul_size, matmul.max_inflight) == ("matmul", (100, 300), 4)
    assert (nap.name, nap.kind, nap.sleep_seconds) == ("nap", "sleep", (0.1, 0.1))
