"""pipeline/config_model.py: the one config mechanism (types, constraints, unknown keys, overrides, plain form).

Each error test states the exact line a user reads: the dotted field, what was given, what was expected.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from pipeline.config_model import (
    Checked,
    ConfigModelError,
    apply_overrides,
    check_keys,
    constrained,
    from_mapping,
    to_plain,
)

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, kw_only=True)
class Optim(Checked):
    lr: float = constrained(3e-5, gt=0)
    steps: int | None = constrained(None, ge=1)
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass(frozen=True, kw_only=True)
class Loss(Checked):
    name: str
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Run(Checked):
    optim: Optim = field(default_factory=Optim)
    losses: tuple[Loss, ...] = constrained(default_factory=lambda: (Loss(name="mle"),), min_length=1)
    precision: Literal["fp32", "bf16"] = "fp32"
    seed: int = 13
    tag: str | None = None


def _problems(values: dict) -> list[str]:
    with pytest.raises(ConfigModelError) as info:
        from_mapping(Run, values)
    assert str(info.value) == "\n".join(info.value.problems)  # one line per problem, nothing else
    return list(info.value.problems)


# Errors: exact text, dotted field first --------------------------------------------------------


def test_a_wrong_type_names_the_dotted_field_the_value_and_the_type() -> None:
    assert _problems({"optim": {"lr": "fast"}}) == ["optim.lr: got 'fast', expected a number"]
    assert _problems({"seed": True}) == ["seed: got True, expected an integer"]  # a bool is not an int
    assert _problems({"seed": 1.5}) == ["seed: got 1.5, expected an integer"]
    assert _problems({"tag": 7}) == ["tag: got 7, expected a string or null"]
    assert _problems({"precision": "fp8"}) == ["precision: got 'fp8', expected one of ['fp32', 'bf16']"]
    assert _problems({"optim": {"betas": [0.9]}}) == ["optim.betas: got [0.9], expected a list of 2"]
    assert _problems({"optim": 3}) == ["optim: got 3, expected a mapping of Optim fields"]


def test_a_broken_constraint_names_the_field_and_the_bound() -> None:
    assert _problems({"optim": {"lr": -1}}) == ["optim.lr: got -1, expected > 0"]  # the value as written
    assert _problems({"optim": {"steps": 0}}) == ["optim.steps: got 0, expected >= 1"]
    assert _problems({"losses": []}) == ["losses: got [], expected at least 1 item"]


def test_an_unknown_key_is_named_with_the_keys_that_exist() -> None:
    assert _problems({"optim": {"learning_rate": 1}}) == [
        "optim.learning_rate: unknown key; expected one of ['betas', 'lr', 'steps']"
    ]
    assert _problems({"sed": 1}) == [
        "sed: unknown key; expected one of ['losses', 'optim', 'precision', 'seed', 'tag']"
    ]


def test_list_items_are_named_by_index_and_every_problem_is_listed() -> None:
    assert _problems({"losses": [{"name": "mle"}, {"weight": "heavy"}], "optim": {"lr": 0}}) == [
        "optim.lr: got 0, expected > 0",
        "losses.1.name: missing (required)",
        "losses.1.weight: got 'heavy', expected a number",
    ]


def test_the_callers_error_class_is_raised_and_the_project_errors_share_one_base() -> None:
    from flows.experiment_profile import ProfileError
    from pipeline.build_config import BuildConfigError
    from training.config import ConfigError

    assert all(issubclass(e, ConfigModelError) for e in (ConfigError, BuildConfigError, ProfileError))
    with pytest.raises(BuildConfigError, match=r"^index\.optim\.lr: got 0, expected > 0$"):
        from_mapping(Run, {"optim": {"lr": 0}}, where="index", error=BuildConfigError)
    with pytest.raises(BuildConfigError, match=r"^nope: unknown key; expected one of \['a', 'b'\]$"):
        check_keys({"a": 1, "nope": 2}, ("a", "b"), error=BuildConfigError)


def test_direct_construction_is_checked_naming_the_class() -> None:
    with pytest.raises(ConfigModelError, match=r"^Optim\.lr: got 0, expected > 0$"):
        Optim(lr=0)
    assert Optim(lr=1).lr == 1.0 and isinstance(Optim(lr=1).lr, float)  # coerced in place, still frozen
    with pytest.raises(AttributeError):
        Optim().lr = 2.0  # type: ignore[misc]


# Coercions: the gentle ones only ------------------------------------------------------------------


def test_gentle_coercions() -> None:
    run = from_mapping(Run, {"optim": {"lr": "1e-4", "betas": [1, 0.5]}, "losses": [{"name": "a", "weight": 2}]})
    assert run.optim.lr == 1e-4  # YAML 1.1 reads `1e-4` as a string; pydantic took it as a number too
    assert run.optim.betas == (1.0, 0.5) and isinstance(run.optim.betas, tuple)  # list -> tuple, int -> float
    assert run.losses == (Loss(name="a", weight=2.0),) and run == from_mapping(Run, to_plain(run))  # round trip
    assert from_mapping(Run, None) == Run()  # no mapping: every default


# Overrides ---------------------------------------------------------------------------------------


def test_overrides_reach_nested_keys_and_list_items_with_yaml_values() -> None:
    raw = {"optim": {"lr": 1.0}, "losses": [{"name": "mle"}, {"name": "hinge", "params": {"margin": 0.5}}]}
    out = apply_overrides(
        raw,
        [
            "optim.steps=50",
            "losses.1.weight=0",
            "losses.1.params.margin=0.25",
            "tag=null",
            "precision=bf16",
            "new.section.key=[1, two]",
        ],
    )
    assert out == {
        "optim": {"lr": 1.0, "steps": 50},
        "losses": [{"name": "mle"}, {"name": "hinge", "weight": 0, "params": {"margin": 0.25}}],
        "tag": None,
        "precision": "bf16",
        "new": {"section": {"key": [1, "two"]}},
    }
    assert raw["losses"][1] == {"name": "hinge", "params": {"margin": 0.5}}  # the input is not changed


def test_override_mistakes_are_named() -> None:
    raw = {"losses": [{"name": "mle"}], "data": {"bundles": None, "root": "x"}}
    cases = {
        "losses.2.weight=0": "override 'losses.2.weight': '2' is not an index of a list of 1",
        "losses.first.weight=0": "override 'losses.first.weight': 'first' is not an index of a list of 1",
        "data.bundles.kind=flip": "override 'data.bundles.kind': 'data.bundles' is null, not a section; "
        "set it whole, e.g. data.bundles={...}",
        "data.root.x=1": "override 'data.root.x': 'data.root' is 'x', not a section",
        "optim.lr": "override 'optim.lr': expected KEY=VALUE, e.g. optim.lr=3e-5",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigModelError) as info:
            apply_overrides(raw, [override])
        assert str(info.value) == message


def test_an_override_error_after_parsing_names_the_list_item() -> None:
    raw = apply_overrides({"losses": [{"name": "mle"}]}, ["losses.0.weight=heavy"])
    assert _problems(raw) == ["losses.0.weight: got 'heavy', expected a number"]


# What travels to a GPU machine ---------------------------------------------------------------------


def test_config_modules_load_no_mining_stack() -> None:
    """`cqa train` on a GPU machine with only torch, transformers, safetensors, numpy, pyyaml, rich, typer."""
    code = (
        "import json, sys; import pipeline.config_model, training.config; "
        "print(json.dumps(sorted(m for m in ('pydantic', 'polars', 'spacy', 'prefect', 'torch', 'pyarrow') "
        "if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_config_files_are_read_by_one_reader_naming_the_file(tmp_path: Path) -> None:
    from pipeline.config_model import read_mapping

    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "list.yaml").write_text("- a\n")
    (tmp_path / "bad.yaml").write_text("a: 1\nb: c: d\n")  # the second ':' of line 2 (column 5)
    (tmp_path / "bytes.yaml").write_bytes(b"a: \xff\n")
    assert read_mapping(tmp_path / "empty.yaml") == {}
    cases = {
        "missing.yaml": f"config file {tmp_path / 'missing.yaml'} does not exist",
        "list.yaml": f"config file {tmp_path / 'list.yaml'}: expected a mapping at the top level, got list",
        "bad.yaml": f"config file {tmp_path / 'bad.yaml'}: not valid YAML at line 2, column 5: "
        "mapping values are not allowed here",
        "bytes.yaml": f"config file {tmp_path / 'bytes.yaml'}: not UTF-8 text (byte 3)",
    }
    for name, message in cases.items():
        with pytest.raises(ConfigModelError) as info:
            read_mapping(tmp_path / name)
        assert str(info.value) == message
