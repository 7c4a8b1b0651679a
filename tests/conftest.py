"""Every test session keeps local-cluster state in a directory of its own (not the user's, and
not another parallel worker's): a cluster a test starts is never found by another test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def private_state_home() -> Iterator[None]:
    with tempfile.TemporaryDirectory(prefix="faastraintests") as home:
        before = os.environ.get("XDG_STATE_HOME")
        os.environ["XDG_STATE_HOME"] = home
        try:
            yield
        finally:
            if before is None:
                del os.environ["XDG_STATE_HOME"]
            else:
                os.environ["XDG_STATE_HOME"] = before
