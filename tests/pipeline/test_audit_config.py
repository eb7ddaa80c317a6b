"""The build config's `audit` key: off by default, `true`, or {n, seed}; bad values name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.build_config import AuditConfig, BuildConfigError, load_build_config


def test_audit_is_off_by_default_and_on_with_true_or_a_mapping(samples: Path) -> None:
    config = samples / "build.yaml"
    assert load_build_config(config).audit is None
    assert "audit" not in load_build_config(config).resolved()  # default reports unchanged
    assert load_build_config(config, ["audit=true"]).audit == AuditConfig(n=30, seed=0)
    on = load_build_config(config, ["audit.n=5", "audit.seed=7"])
    assert on.audit == AuditConfig(n=5, seed=7) and on.resolved()["audit"] == {"n": 5, "seed": 7}


@pytest.mark.parametrize(
    "override, message",
    [
        ("audit=maybe", "audit: expected true, false or a mapping"),
        ("audit.n=0", "audit.n: got 0, expected >= 1"),
        ("audit.samples=3", "audit.samples: unknown key; expected one of ['n', 'seed']"),
    ],
)
def test_bad_audit_values_name_the_field(samples: Path, override: str, message: str) -> None:
    with pytest.raises(
        BuildConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    ):
        load_build_config(samples / "build.yaml", [override])
