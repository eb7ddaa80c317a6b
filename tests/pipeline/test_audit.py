"""The audit site (`pipeline/audit.py`): highlight segments by hand, pages on the samples, escaping,
and the pages rendered in a real headless Chromium (skipped with a message where none is installed).

    .venv/bin/python -m pytest -q tests/pipeline/test_audit.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from pipeline import io
from pipeline.audit import build_site
from pipeline.highlight import Mark, segments
from pipeline.schemas import CONTEXTS, EXAMPLES, NEAR_MISS

# A context that would run a script and break entities if it were not escaped.
HOSTILE = "Tom & Jerry <script>document.title='PWNED'</script> met in Paris, not in Rome."


# highlight segments (by hand) ---------------------------------------------------------


def test_segments_cut_at_every_boundary_and_keep_all_covering_kinds() -> None:
    # "Paris and Rome": sentence [0,14), gold [0,5) "Paris", negative [10,14) "Rome".
    # Cuts at 0, 5, 10, 14 -> "Paris" (sentence+gold), " and " (sentence), "Rome" (sentence+negative).
    segs = segments("Paris and Rome", [Mark(0, 14, "sentence"), Mark(0, 5, "gold"), Mark(10, 14, "negative", "GPE")])
    assert [(s.text, s.kinds) for s in segs] == [
        ("Paris", ("sentence", "gold")),
        (" and ", ("sentence",)),
        ("Rome", ("sentence", "negative")),
    ]
    assert segs[2].notes == ("GPE",)
    assert "".join(s.text for s in segs) == "Paris and Rome"


def test_overlapping_spans_split_into_three_pieces() -> None:
    # gold [0,6) "abcdef", pred [3,9) "defghi" over "abcdefghi": cuts 0,3,6,9.
    segs = segments("abcdefghi", [Mark(0, 6, "gold"), Mark(3, 9, "pred")])
    assert [(s.text, s.kinds) for s in segs] == [("abc", ("gold",)), ("def", ("gold", "pred")), ("ghi", ("pred",))]


def test_a_span_outside_the_text_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"negative \[3, 12\) lies outside a text of 5"):
        segments("Paris", [Mark(3, 12, "negative")])


# the site on the samples --------------------------------------------------------------


def _add_hostile_partition(root: Path) -> None:
    """Dataset `hostile`: one example whose context holds `<script>` and `&`, with a gold and a negative."""
    part = {"dataset": "hostile", "split": "dev"}
    cid = io.text_id(HOSTILE)
    paris, rome = HOSTILE.index("Paris"), HOSTILE.index("Rome")
    gold = {"text": "Paris", "start": paris, "end": paris + 5}
    ex = pl.DataFrame(
        [
            {
                "example_id": "h-1",
                "context_id": cid,
                "title": "T & <b>",
                "question": "Where <i>did</i> they meet?",
                "answers": [gold],
                "is_impossible": False,
                "plausible_answers": [],
                "lang": "en",
                "question_type": None,
                "source_file": "hand",
                "source_record": "0",
            }
        ],
        schema=io.empty_frame(EXAMPLES).schema,
    )
    ctx = pl.DataFrame(
        [{"context_id": cid, "context": HOSTILE, "title": "T", "lang": "en", "n_chars": len(HOSTILE)}],
        schema=io.empty_frame(CONTEXTS).schema,
    )
    nm = pl.DataFrame(
        [
            {
                "example_id": "h-1",
                "context_id": cid,
                "status": "ok",
                "gold": gold,
                "gold_label": "GPE",
                "gold_coarse": "PLACE",
                "sentence": {"start": 0, "end": len(HOSTILE)},
                "negatives": [{"text": "Rome", "start": rome, "end": rome + 4, "label": "GPE"}],
                "n_negatives": 1,
            }
        ],
        schema=io.empty_frame(NEAR_MISS).schema,
    )
    io.write_partition(root, EXAMPLES, ex, part)
    io.write_partition(root, CONTEXTS, ctx, part)
    io.write_partition(root, NEAR_MISS, nm, part)


@pytest.fixture(scope="module")
def sample_root(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The samples built once (load, index, every miner; no Prefect), plus the hostile partition."""
    from pipeline.build_config import load_build_config
    from pipeline.stages import miner_applies, run_index, run_load, run_miner

    root = tmp_path_factory.mktemp("audit_artifacts")
    cfg = load_build_config(str(samples / "build.yaml"), root=str(root))
    parts = [(r.dataset, r.split) for s in cfg.sources for r in run_load(cfg.root, s)]
    for d, s in parts:
        run_index(cfg.root, d, s, cfg.index)
    for name in cfg.miners:
        for d, s in parts:
            if miner_applies(cfg, name, d):
                run_miner(cfg.root, name, d, s, cfg)
    _add_hostile_partition(root)
    return root


@pytest.fixture(scope="module")
def site(sample_root: Path, tmp_path_factory: pytest.TempPathFactory):
    return build_site(sample_root, tmp_path_factory.mktemp("audit_site"), n=40, seed=3)


def test_every_miner_page_and_plot_is_written(site) -> None:
    names = {p.name for p in site.pages}
    assert {"index.html", "near_miss.html", "bundles.html", "flips.html", "synthetic.html"} <= names
    assert {p.name for p in site.images} == {
        "near_miss_negatives.png",
        "bundle_sizes.png",
        "flip_rules.png",
        "synthetic_rules.png",
    }
    index = site.index.read_text(encoding="utf-8")
    for artifact in ("examples", "contexts", "index", "near_miss", "bundles", "flips", "synthetic", "rejects"):
        assert f"<td>{artifact}</td>" in index
    # the broken sample's load rejects: one row per reason, with its count and example records
    assert '<td class="mono">offset_mismatch</td><td class="num">3</td>' in index
    assert '<td class="mono">missing_field</td><td class="num">4</td>' in index


def test_a_context_with_script_and_ampersand_renders_as_text(site) -> None:
    html = (site.out / "near_miss.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;document.title=" in html
    assert "Tom &amp; Jerry" in html and "Where &lt;i&gt;did&lt;/i&gt; they meet?" in html


def test_same_seed_same_samples_other_seed_other_samples(sample_root: Path, site, tmp_path: Path) -> None:
    again = build_site(sample_root, tmp_path / "a", n=40, seed=3)
    assert (again.out / "flips.html").read_text() == (site.out / "flips.html").read_text().replace(
        str(site.out), str(again.out)
    )
    other = build_site(sample_root, tmp_path / "b", n=3, seed=4)
    assert (other.out / "near_miss.html").read_text() != (again.out / "near_miss.html").read_text()


def test_dataset_filter_keeps_one_dataset(sample_root: Path, tmp_path: Path) -> None:
    site = build_site(sample_root, tmp_path / "s", dataset="squad11", n=5, seed=0)
    html = (site.out / "near_miss.html").read_text(encoding="utf-8")
    assert "squad11/dev" in html and "ropes/dev" not in html
    bundles = (site.out / "bundles.html").read_text(encoding="utf-8")
    assert "0 random bundles (of 0)" in bundles  # squad11's flips found no choice question: no bundle rows


# the real browser -----------------------------------------------------------------------


def chromium() -> str | None:
    """A headless-capable Chromium: $CQA_CHROMIUM, else the first of the usual names on PATH."""
    if os.environ.get("CQA_CHROMIUM"):
        return shutil.which(os.environ["CQA_CHROMIUM"])
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture(scope="module")
def browser() -> str:
    """The Chromium binary, or skip (before the samples are built) with a message saying how to get one."""
    exe = chromium()
    if exe is None:
        pytest.skip("no Chromium binary found (apt-get install chromium, or set CQA_CHROMIUM): browser test not run")
    return exe


def _browser(exe: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={cwd / 'profile'}",
        *args,
    ]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=180, check=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    "page, kinds",
    [
        ("near_miss.html", ("gold", "negative", "sentence")),
        ("synthetic.html", ("inserted", "inserted-answer", "gold")),
        ("flips.html", ("parent", "flip")),
        ("bundles.html", ("member-0", "member-1")),
    ],
)
def test_highlighted_spans_exist_in_the_rendered_dom(
    browser: str, site, tmp_path: Path, page: str, kinds: tuple[str, ...]
) -> None:
    dom = _browser(browser, ["--dump-dom", (site.out / page).as_uri()], tmp_path).stdout
    assert "</html>" in dom  # the DOM after parsing, not an error page
    marked = [set(m.split()) for m in re.findall(r'<mark class="hl[^"]*" data-kind="([^"]*)"', dom)]
    for kind in kinds:
        assert any(kind in m for m in marked), f"{page}: no highlighted span of kind {kind} in the rendered DOM"
    if page == "near_miss.html":
        assert "<title>PWNED" not in dom and "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in dom


@pytest.mark.slow
def test_screenshot_is_not_blank(browser: str, site, tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    shot = tmp_path / "near_miss.png"
    _browser(
        browser, ["--window-size=1200,1400", f"--screenshot={shot}", (site.out / "near_miss.html").as_uri()], tmp_path
    )
    image = mpimg.imread(shot)[..., :3]  # (height, width, rgb) floats in [0, 1]
    assert image.shape[:2] == (1400, 1200)
    non_white = (image < 0.9).any(axis=-1).mean()
    assert image.std() > 0.05 and non_white > 0.02, (
        f"screenshot looks blank: std {image.std():.3f}, non-white {non_white:.3f}"
    )
    green = ((image[..., 1] > 0.8) & (image[..., 0] < 0.7) & (image[..., 2] < 0.7)).mean()
    assert green > 0.0005, "no gold-green highlight pixels in the screenshot"


def test_cqa_audit_command(sample_root: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    ok = CliRunner().invoke(app, ["audit", "--root", str(sample_root), "--out", str(tmp_path / "site"), "--n", "2"])
    assert ok.exit_code == 0, ok.output
    assert "audit: 5 pages, 4 plots" in ok.output and (tmp_path / "site" / "index.html").exists()
    bad = CliRunner().invoke(app, ["audit", "--root", str(sample_root), "--out", str(tmp_path / "x"), "--n", "0"])
    assert bad.exit_code == 2 and "--n must be at least 1" in bad.output
    gone = CliRunner().invoke(app, ["audit", "--root", str(tmp_path / "nope")])
    assert gone.exit_code == 1 and "does not exist" in gone.output


# top-k and evaluation pages (hand-made partitions on the hostile example) ------------------


def _topk_and_eval(root: Path) -> None:
    from pipeline.schemas import METRICS, PREDICTIONS, TOPK

    cid = io.text_id(HOSTILE)
    paris, rome = HOSTILE.index("Paris"), HOSTILE.index("Rome")
    topk = pl.DataFrame(
        [
            {
                "example_id": "h-1",
                "context_id": cid,
                "rank": 0,
                "span": {"text": "Rome", "start": rome, "end": rome + 4},
                "score": 3.5,
                "is_gold": False,
                "overlaps_gold": False,
            },
            {
                "example_id": "h-1",
                "context_id": cid,
                "rank": 1,
                "span": {"text": "Paris", "start": paris, "end": paris + 5},
                "score": 2.25,
                "is_gold": True,
                "overlaps_gold": False,
            },
        ],
        schema=io.empty_frame(TOPK).schema,
    )
    io.write_partition(root, TOPK, topk, {"dataset": "hostile", "split": "dev", "model": "tiny-seed1"})
    # an evaluation run: predictions in the root, its prepared set under reports/evaluate-*/inputs
    inputs = root / "reports" / "evaluate-20261201T000000Z" / "inputs"
    part = {"dataset": "hostile-eval", "split": "eval"}
    io.write_partition(
        inputs, EXAMPLES, io.read(root, EXAMPLES, {"dataset": "hostile", "split": "dev"}).drop("dataset", "split"), part
    )
    io.write_partition(
        inputs, CONTEXTS, io.read(root, CONTEXTS, {"dataset": "hostile", "split": "dev"}).drop("dataset", "split"), part
    )
    preds = pl.DataFrame(
        [
            {
                "example_id": "h-1",
                "prediction": "Rome",
                "start": rome,
                "end": rome + 4,
                "score": 3.5,
                "null_score": None,
                "em": 0.0,
                "f1": 0.0,
            }
        ],
        schema=io.empty_frame(PREDICTIONS).schema,
    )
    io.write_partition(root, PREDICTIONS, preds, {"eval_set": "hostile-eval", "run": "tiny-seed1"})
    metrics = pl.DataFrame(
        [{"run": "tiny-seed1", "metric": "em", "slice": "all", "value": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": 1}],
        schema=io.empty_frame(METRICS).schema,
    )
    io.write_partition(root, METRICS, metrics, {"eval_set": "hostile-eval"})


def test_topk_and_evaluation_pages(sample_root: Path, tmp_path: Path) -> None:
    import shutil as _shutil

    root = tmp_path / "root"
    _shutil.copytree(sample_root, root)
    _topk_and_eval(root)
    site = build_site(root, tmp_path / "site", dataset="hostile", n=5, seed=0)
    topk = (site.out / "topk-hostile-dev-tiny-seed1.html").read_text(encoding="utf-8")
    assert "1 questions, 2 spans; gold at rank 0: 0.0; gold within k: 1.0" in topk
    assert '<td class="num">3.500</td>' in topk and '<td class="num">2.250</td>' in topk
    assert '<mark class="hl hl-pred" data-kind="pred"' in topk and "&lt;script&gt;" in topk
    ev = (site.out / "eval-hostile-eval-tiny-seed1.html").read_text(encoding="utf-8")
    assert "slice all: 1 random errors (of 1 errors in 1 questions)" in ev
    assert (
        'prediction: <mark class="hl hl-pred">Rome</mark>' in ev and 'gold: <mark class="hl hl-gold">Paris</mark>' in ev
    )
    assert "&lt;script&gt;" in ev and "<script>" not in ev


def test_flip_precision_where_known_and_unknown_elsewhere(site) -> None:
    html = (site.out / "flips.html").read_text(encoding="utf-8")
    table = html.split('id="judged"', 1)[1].split("</table>", 1)[0]
    rows = [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]
    ]
    by = {(r[0], r[2]): r for r in rows}
    ropes = by[("ropes", "antonym")]
    flips, judged, right = int(ropes[3]), int(ropes[4]), int(ropes[5])
    assert 0 < judged <= flips and right <= judged and float(ropes[6]) == round(right / judged, 3)
    assert by[("hotpot", "antonym")][6] == "unknown"  # no human wrote the flipped HotpotQA questions
