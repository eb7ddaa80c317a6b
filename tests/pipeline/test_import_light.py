"""`pipeline` must work without torch or prefect: mining runs on machines with neither.

Two checks, each in a fresh interpreter:
1. importing any module of pipeline/ loads neither package (strict: not even indirectly,
   so spaCy and lemminflect, which probe torch, are imported inside the functions that use them);
2. every module under pipeline/ imports with torch and prefect made unimportable. This is
   the rule "pipeline never imports torch or prefect" without counting spaCy's own optional
   backend probe (`import spacy` -> `thinc.compat` tries `import torch` when installed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "prefect")
# Imports the modules in order; prints {module: heavy packages that got loaded while importing it}.
PROBE = """
import importlib, json, sys
if sys.argv[1] == "block":
    for name in %r:
        sys.modules[name] = None  # `import name` now raises ImportError
culprits = {}
for name in sys.argv[2:]:
    before = {m.split('.')[0] for m in sys.modules if sys.modules[m] is not None}
    importlib.import_module(name)
    after = {m.split('.')[0] for m in sys.modules if sys.modules[m] is not None}
    pulled = sorted((after - before) & set(%r))
    if pulled:
        culprits[name] = pulled
print(json.dumps(culprits))
""" % (HEAVY, HEAVY)


def _probe(mode: str, modules: list[str]) -> dict[str, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode, *modules], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, f"importing {modules} ({mode}) failed:\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def all_pipeline_modules() -> list[str]:
    """Every module and subpackage directly under pipeline/ (pipeline.sources once it exists)."""
    base = REPO / "pipeline"
    names = {p.stem for p in base.glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in base.glob("*/__init__.py")}
    return ["pipeline"] + sorted(f"pipeline.{n}" for n in names)


def test_pipeline_modules_load_neither_torch_nor_prefect():
    culprits = _probe("watch", all_pipeline_modules())
    assert culprits == {}, f"modules that loaded {HEAVY} (module: packages): {culprits}"


def test_every_pipeline_module_imports_without_torch_and_prefect():
    assert _probe("block", all_pipeline_modules()) == {}


def _pipeline_imports() -> dict[str, set[str]]:
    """pipeline module -> the pipeline modules it imports anywhere in its file (top level or inside a function)."""
    import ast

    files = {
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (REPO / "pipeline").rglob("*.py")
    }
    graph = {}
    for name, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {m for m in found if m in files and m != name}
    return graph


def test_no_import_cycle_inside_pipeline():
    graph, state, cycles = _pipeline_imports(), {}, []

    def visit(m: str, path: list[str]) -> None:  # depth-first; state 1 = on the current path, 2 = done
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(path[path.index(d) :] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert "pipeline.miners" in graph["pipeline.build_config"]  # the graph is read (a test that can fail)
    assert cycles == [], f"import cycles in pipeline/: {[' -> '.join(c) for c in cycles]}"
