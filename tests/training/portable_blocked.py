"""Run `python -m training.portable ...` as on a GPU machine that has only the `train` extra installed.

    python tests/training/portable_blocked.py REPORT.json train PACK --out RUNS ...
    python tests/training/portable_blocked.py REPORT.json -m benchmarks.bench_gpu --pack PACK --small ...

Every top-level module that is neither the standard library, nor this project's `training` / `benchmarks` /
`pipeline`, nor installed by a distribution in the dependency closure of pyproject.toml's `train`
extra is hidden from the import system (the path finder answers "not found", so `import polars`
raises ModuleNotFoundError and `importlib.util.find_spec("polars")` is None, as where it is absent).
REPORT.json receives the hidden names that something tried to import and every non-stdlib
top-level module that was imported.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata as md
import json
import re
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[2]
PROJECT = {"training", "pipeline", "benchmarks"}  # this project's code, which travels with the working tree
MINING = ("spacy", "prefect", "polars", "pydantic", "pyarrow")  # what issue 14 names; each must be hidden


def _name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def train_closure() -> set[str]:
    """Distribution names (normalised) of the `train` extra and everything they require (extras' deps left out)."""
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    todo, seen = [_name(r) for r in extra], set()
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        try:
            reqs = md.requires(dist) or []
        except md.PackageNotFoundError:
            continue
        todo += [_name(r) for r in reqs if "extra ==" not in r.replace('"', "").replace("'", "")]
    return seen


def allowed_modules(closure: set[str]) -> set[str]:
    top = md.packages_distributions()
    found = {m for m, dists in top.items() if any(d.lower().replace("_", "-") in closure for d in dists)}
    return found - set(MINING)  # hidden even where a dependency declares one (this typer requires pydantic)


class HideAbsent:
    """Wraps the path finder: top-level names outside `allowed` are not found."""

    def __init__(self, inner, allowed: set[str]):
        self.inner, self.allowed, self.hidden = inner, allowed, set()

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        stdlib = top in sys.stdlib_module_names or top.startswith("_sysconfigdata")  # the platform's sysconfig data
        if path is None and top not in self.allowed and not stdlib and top not in PROJECT:
            self.hidden.add(top)
            return None
        return self.inner.find_spec(name, path, target)

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


def main() -> int:
    report, argv = Path(sys.argv[1]), sys.argv[2:]
    closure = train_closure()
    allowed = allowed_modules(closure)
    leaked = sorted(m for m in MINING if m in sys.modules)
    hider = HideAbsent(importlib.machinery.PathFinder, allowed)
    sys.meta_path[:] = [hider if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
    for name in MINING:  # the emulation itself must hold: these cannot be imported
        try:
            __import__(name)
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit(f"portable_blocked: {name} is still importable")
    sys.path.insert(0, str(REPO))
    try:
        if argv[:1] == ["-m"]:  # another entry point: `-m benchmarks.bench_gpu --pack ...`
            import runpy

            sys.argv = [argv[1], *argv[2:]]
            try:
                runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
                rc = 0
            except SystemExit as e:
                rc = int(e.code or 0)
        else:
            from training.portable import main as portable_main

            rc = portable_main(argv)
    finally:
        imported = sorted({m.partition(".")[0] for m in sys.modules} - set(sys.stdlib_module_names))
        report.write_text(
            json.dumps(
                {
                    "hidden_tried": sorted(hider.hidden),
                    "imported": imported,
                    "allowed": sorted(allowed),
                    "closure": sorted(closure),
                    "preloaded_mining": leaked,
                },
                indent=1,
            )
        )
    return rc


if __name__ == "__main__":
    sys.exit(main())
