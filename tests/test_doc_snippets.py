"""Every Python snippet in README.md and docs/ runs as a script, as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Snippets that start the local cluster (real replica processes, Prometheus) are slow.
STARTS_PROCESSES = ("local_cluster=True", "LocalCluster(")


def snippets() -> list[object]:
    found = []
    for doc in DOCS:
        for n, code in enumerate(re.findall(r"^```python\n(.*?)^```$", doc.read_text(), flags=re.M | re.S), 1):
            marks = [pytest.mark.slow] if any(s in code for s in STARTS_PROCESSES) else []
            found.append(pytest.param(code, id=f"{doc.relative_to(ROOT)}#{n}", marks=marks))
    return found


def test_the_docs_have_snippets() -> None:
    ids = [p.id for p in snippets()]  # type: ignore[attr-defined]
    assert "README.md#2" in ids and "docs/migration.md#1" in ids and len(ids) >= 9, ids


@pytest.mark.parametrize("code", snippets())
def test_the_snippet_runs(code: str, tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
