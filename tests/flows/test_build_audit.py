"""build-bundles with `audit` set: the report gets histogram PNGs beside it and links the audit site."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import pytest

pytestmark = pytest.mark.slow


def test_build_bundles_writes_plots_and_the_audit_site(prefect_harness, samples: Path, tmp_path: Path) -> None:
    from flows.build_bundles import build_bundles_flow

    root = tmp_path / "artifacts"
    out = build_bundles_flow(config=str(samples / "build.yaml"), root=str(root),
                             overrides=["audit.n=3", "miners=[near_miss, ropes_bundles]"])
    report = Path(out["report"])
    text = report.read_text(encoding="utf-8")
    stem = report.with_suffix("").name
    for png in (f"{stem}-negatives.png", f"{stem}-bundle-sizes.png"):
        assert f"]({png})" in text
        assert mpimg.imread(report.parent / png).shape[0] > 100
    index = root / "audit" / "index.html"
    assert "## Audit site" in text and index.resolve().as_uri() in text
    assert index.exists() and (root / "audit" / "near_miss.html").exists() and (root / "audit" / "bundles.html").exists()
    assert not (root / "audit" / "flips.html").exists()  # flips did not run: no page for an artifact that is not there
