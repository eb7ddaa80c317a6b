"""The README's generated parts and commands match the code (they cannot drift silently)."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.coarse_types import table_markdown
from pipeline.schemas import reference_markdown

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_artifact_reference_is_the_generated_one() -> None:
    assert reference_markdown().strip() in README, "README is stale: paste `python -m pipeline.schemas` into it"


def test_coarse_type_table_is_the_generated_one() -> None:
    assert table_markdown().strip() in README


def test_quick_start_has_two_commands_and_ci_runs_the_test_command() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", quick, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["bash scripts/demo.sh", ".venv/bin/python -m pytest -q"]
    assert (REPO / "scripts" / "demo.sh").exists()
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in ci
    assert "\n" + commands[1] + "\n" in ci
    assert ci.index('"torch==2.13.0"') < ci.index('-e ".[models,dask,dev]"')


def test_sections_for_later_stages_are_present_and_honest() -> None:
    for title in ("## Training on a GPU", "## Evaluating", "## Reproducing the papers"):
        section = README.split(title, 1)[1].split("\n## ", 1)[0].strip()
        assert section and "see issue" not in section.lower(), title
