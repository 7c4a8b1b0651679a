"""The optional compiled build (``FAASTRAIN_COMPILE=1``): it builds, it is the one imported,
it gives the same episodes as the pure-Python modules bit for bit, and the simulator's
tests pass on it.

Run as a script, this file prints whether the imported build is compiled and a digest of
seeded episodes; the tests run it against the compiled build in a separate interpreter.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest

import faastrain_async

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "faastrain_async", "loadgen")
#: The tests that drive the compiled modules hardest, run again on the compiled build.
SIM_TESTS = ("test_sim_model.py", "test_engine.py", "test_env_api.py", "test_policies_cli.py")
BUILD_TIMEOUT = 600.0

pytestmark = pytest.mark.slow


def episode_digest() -> str:
    """SHA-256 over every observation, reward and info of seeded random-action episodes."""
    digest = hashlib.sha256()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium's checker warns about the float64 info values
        for kwargs in ({}, {"profile": "constant:rate=30"}, {"sim": {"cold_start": 0.0}}):
            env = gymnasium.make(faastrain_async.ENV_ID, **kwargs)
            obs, _ = env.reset(seed=3)
            digest.update(obs.tobytes())
            for action in np.random.default_rng(1).integers(0, env.action_space.n, 500).tolist():
                obs, reward, terminated, truncated, info = env.step(action)
                digest.update(obs.tobytes())
                digest.update(repr((reward, sorted(info.items()))).encode())
                if terminated or truncated:
                    env.reset()
            env.close()
    return digest.hexdigest()


def run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def compiled_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built with FAASTRAIN_COMPILE=1 and installed into a directory of its own."""
    base = tmp_path_factory.mktemp("compiled")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        else:
            shutil.copy2(path, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    build_env = {**os.environ, "FAASTRAIN_COMPILE": "1"}
    # No build isolation: setuptools and mypy come from the test environment, not the network.
    wheel = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(base / "wheel"), str(source)]
    run(wheel, env=build_env, cwd=base)
    wheels = list((base / "wheel").glob("faastrain-*.whl"))
    assert len(wheels) == 1 and "linux" in wheels[0].name, wheels  # a platform wheel: it has extensions
    site = base / "site"
    run([*pip, "install", "--no-deps", "--target", str(site), str(wheels[0])], cwd=base)
    return site


def python_on(path: Path, *args: str) -> str:
    """Run Python with ``path`` first on the module path (-P: not the working directory)."""
    env = {**os.environ, "PYTHONPATH": str(path)}
    return run([sys.executable, "-P", *args], env=env, cwd=path.parent)


def test_the_compiled_build_gives_the_same_episodes_bit_for_bit(compiled_site: Path) -> None:
    pure = python_on(ROOT, __file__).split()  # the repository's own modules
    assert pure[0] == "pure"
    assert python_on(compiled_site, __file__).split() == ["compiled", pure[1]]


def test_the_simulator_tests_pass_on_the_compiled_build(compiled_site: Path) -> None:
    check = (
        "import sys, faastrain_async, pytest\n"
        "assert faastrain_async.compiled(), 'the compiled build is not the one imported'\n"
        "sys.exit(pytest.main(sys.argv[1:]))\n"
    )
    tests = [str(ROOT / "tests" / name) for name in SIM_TESTS]
    out = python_on(compiled_site, "-c", check, "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT), *tests)
    assert " passed" in out and "failed" not in out, out[-2000:]


@pytest.mark.parametrize(
    ("value", "command", "message"),
    [
        ("yes", "--version", "FAASTRAIN_COMPILE='yes': use 1 (compile with mypyc) or 0 (pure Python)"),
        ("1", "editable_wheel", "FAASTRAIN_COMPILE=1 needs a regular install (pip install .), not an editable one"),
    ],
)
def test_a_bad_compile_request_is_refused_with_the_reason(value: str, command: str, message: str) -> None:
    env = {**os.environ, "FAASTRAIN_COMPILE": value}
    done = subprocess.run(
        [sys.executable, "-P", "setup.py", command], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert message in done.stderr


if __name__ == "__main__":
    print("compiled" if faastrain_async.compiled() else "pure", episode_digest())
