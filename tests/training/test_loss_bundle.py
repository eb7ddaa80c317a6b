"""Bundle losses (unlikelihood, CE answer/question/two-way/full/joint) against slow loops."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from training.losses import build_loss
from training.losses.synthetic_batch import synthetic_batch

LOGITS = ("start_logits", "end_logits")


def call(loss, batch, out):
    merged = {**batch, **out}
    return loss(**{k: merged[k] for k in loss.inputs})


def lse(values):
    return torch.logsumexp(torch.stack(values), 0)


def window_score(batch, out, w, a, normalised):
    i, j = batch["bundle_spans"][w, a].tolist()
    s, e = out["start_logits"][w], out["end_logits"][w]
    value = s[i] + e[j]
    if normalised:
        allowed = [t for t in range(len(s)) if t == 0 or batch["context_mask"][w, t]]
        value = value - lse([s[t] for t in allowed]) - lse([e[t] for t in allowed])
    return value


def loop_grid(batch, out, normalised=True):
    """{bundle: {question: (gold, {answer: score})}} built window by window."""
    grid: dict = {}
    for w in range(len(batch["window_bundle"])):
        b, q = int(batch["window_bundle"][w]), int(batch["window_question"][w])
        if b < 0 or q < 0:
            continue
        gold, cells = grid.setdefault(b, {}).setdefault(q, (int(batch["bundle_gold"][w]), {}))
        for a in range(batch["bundle_mask"].shape[1]):
            if batch["bundle_mask"][w, a]:
                cells.setdefault(a, []).append(window_score(batch, out, w, a, normalised))
    return {
        b: {q: (gold, {a: lse(v) for a, v in cells.items()}) for q, (gold, cells) in qs.items()}
        for b, qs in grid.items()
    }


def gold_questions(grid):
    for b, qs in grid.items():
        for q, (gold, cells) in qs.items():
            if gold >= 0 and gold in cells:
                yield b, q, gold, cells


def mean(terms):
    return sum(terms) / len(terms)


def loop_answer(grid):
    return mean([lse(list(c.values())) - c[g] for _, _, g, c in gold_questions(grid)])


def loop_question(grid):
    terms = []
    for b, q, g, cells in gold_questions(grid):
        column = [c[g] for _, c in grid[b].values() if g in c]
        terms.append(lse(column) - cells[g])
    return mean(terms)


def loop_full(grid):
    terms = []
    for b, q, g, cells in gold_questions(grid):
        others = [v for gq, c in grid[b].values() for a, v in c.items() if a != gq]
        terms.append(lse([cells[g], *others]) - cells[g])
    return mean(terms)


def loop_joint(grid, normaliser):
    terms = []
    for b, qs in grid.items():
        valid = [(q, g, c) for q, (g, c) in sorted(qs.items()) if g >= 0 and g in c]
        if len(valid) != 2 or valid[0][1] == valid[1][1]:
            continue
        (_, g1, c1), (_, g2, c2) = valid
        numerator = c1[g1] + c2[g2]  # the true assignment ψ11·ψ22
        if normaliser == "all_cell_pairs":
            cells = list(c1.values()) + list(c2.values())
            pairs = [x + y for x, y in itertools.combinations(cells, 2)]
        else:
            pairs = [c1[a] + c2[b2] for a in c1 for b2 in c2 if normaliser == "question_pairs" or a != b2]
        terms.append(lse(pairs) - numerator)
    return mean(terms)


def loop_unlikelihood(grid, cap=1 - 1e-6):
    terms = []
    for b, qs in grid.items():
        for q, (g, cells) in qs.items():
            if g < 0:
                continue
            terms.append(
                sum(
                    (-torch.log1p(-torch.clamp(v.exp(), max=cap)) for a, v in cells.items() if a != g),
                    torch.zeros((), dtype=torch.float64),
                )
            )
    return mean(terms)


def assert_same(fast, slow, out):
    assert torch.allclose(fast, slow), (fast, slow)
    logits = [out[k] for k in LOGITS]
    for a, b in zip(torch.autograd.grad(fast, logits, retain_graph=True), torch.autograd.grad(slow, logits)):
        assert torch.allclose(a, b)


def bundle_batch(seed, questions_per_bundle=2, windows=12):
    batch, out = synthetic_batch(
        num_windows=windows, num_answers=4, questions_per_bundle=questions_per_bundle, seed=seed
    )
    batch["window_bundle"][-1] = -1  # a window outside any bundle is ignored
    batch["window_question"][-1] = -1
    return batch, out


CASES = [(seed, qpb) for seed in (0, 1, 2) for qpb in (2, 3)]


@pytest.mark.parametrize("seed,qpb", CASES)
@pytest.mark.parametrize(
    "name,reference",
    [
        ("ce_answer", loop_answer),
        ("ce_question", loop_question),
        ("ce_full", loop_full),
        ("unlikelihood", loop_unlikelihood),
    ],
)
def test_bundle_loss_matches_loop(name, reference, seed, qpb):
    batch, out = bundle_batch(seed, qpb)
    fast = call(build_loss(name), batch, out).total
    assert_same(fast, reference(loop_grid(batch, out)), out)


@pytest.mark.parametrize("seed", [0, 1])
def test_raw_scores_option_matches_loop(seed):
    batch, out = bundle_batch(seed)
    fast = call(build_loss("ce_question", normalised=False), batch, out).total
    assert_same(fast, loop_question(loop_grid(batch, out, normalised=False)), out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_way_is_weighted_sum(seed):
    batch, out = bundle_batch(seed)
    result = call(build_loss("ce_two_way", answer_weight=0.3, question_weight=2.0), batch, out)
    grid = loop_grid(batch, out)
    assert_same(result.total, 0.3 * loop_answer(grid) + 2.0 * loop_question(grid), out)
    assert set(result.components) == {"ce_answer", "ce_question", "questions"}


@pytest.mark.parametrize("seed", [0, 1, 3])
@pytest.mark.parametrize("normaliser", ["question_pairs", "one_to_one", "all_cell_pairs"])
def test_joint_matches_loop(seed, normaliser):
    batch, out = bundle_batch(seed, windows=16)
    result = call(build_loss("ce_joint", normaliser=normaliser), batch, out)
    assert result.components["bundles"] >= 1
    assert_same(result.total, loop_joint(loop_grid(batch, out), normaliser), out)


def test_joint_default_is_the_paper_normaliser_over_all_cell_pairs():
    """Hand-worked 2x2 bundle (issue 9, defect 2); the full derivation is in test_loss_fidelity.py.

    ψ11 = 3, ψ12 = 1, ψ21 = 1, ψ22 = 2 (raw scores log ψ). C(B) = the 6 unordered pairs of
    distinct cells: 3·1 + 3·1 + 3·2 + 1·1 + 1·2 + 1·2 = 17, numerator ψ11·ψ22 = 6, so
    L = log(17/6) = 1.041454. The pre-issue-9 default (question_pairs) gave
    log((3+1)(1+2)/6) = log 2 — the sum of the two answer-conditional losses.
    """
    batch, out = synthetic_batch(num_windows=2, num_answers=2, windows_per_question=1, seed=0)
    batch["bundle_mask"][:] = True
    batch["bundle_gold"] = torch.tensor([0, 1])
    batch["bundle_spans"][:] = torch.tensor([[[5, 5], [6, 6]]])
    psi = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    start = torch.zeros_like(out["start_logits"])
    start[:, 5], start[:, 6] = psi[:, 0].log(), psi[:, 1].log()
    out = {"start_logits": start.requires_grad_(), "end_logits": torch.zeros_like(start).requires_grad_()}
    default = call(build_loss("ce_joint", normalised=False), batch, out).total
    assert default.item() == pytest.approx(math.log(17 / 6), abs=1e-9)
    ablation = call(build_loss("ce_joint", normaliser="question_pairs", normalised=False), batch, out).total
    assert ablation.item() == pytest.approx(math.log(2.0), abs=1e-9)
    one_to_one = call(build_loss("ce_joint", normaliser="one_to_one", normalised=False), batch, out).total
    assert one_to_one.item() == pytest.approx(math.log(7 / 6), abs=1e-9)  # (ψ11ψ22 + ψ12ψ21) / ψ11ψ22


def test_joint_question_pairs_ablation_equals_sum_of_answer_conditional_terms():
    batch, out = bundle_batch(0, windows=16)
    grid = loop_grid(batch, out)
    joint = call(build_loss("ce_joint", normaliser="question_pairs"), batch, out)
    ac_terms = []
    for b, qs in grid.items():
        valid = [(g, c) for g, c in qs.values() if g >= 0 and g in c]
        if len(valid) == 2 and valid[0][0] != valid[1][0]:
            ac_terms.append(sum(lse(list(c.values())) - c[g] for g, c in valid))
    assert torch.allclose(joint.total, mean(ac_terms))


def test_joint_rewards_the_true_not_the_crossed_assignment():
    batch, out = synthetic_batch(num_windows=2, num_answers=2, windows_per_question=1, seed=0)
    batch["bundle_mask"][:] = True
    batch["bundle_gold"] = torch.tensor([0, 1])
    batch["bundle_spans"][:, 0] = torch.tensor([5, 5])
    batch["bundle_spans"][:, 1] = torch.tensor([7, 7])
    with torch.no_grad():
        for w, gold_pos in ((0, 5), (1, 7)):
            out["start_logits"][w, gold_pos] += 8.0
            out["end_logits"][w, gold_pos] += 8.0
    good = call(build_loss("ce_joint", normaliser="one_to_one"), batch, out).total.item()
    batch["bundle_gold"] = torch.tensor([1, 0])  # now the model's favourite is the crossed pair
    bad = call(build_loss("ce_joint", normaliser="one_to_one"), batch, out).total.item()
    assert good < 0.01 < 5 < bad


def test_batch_without_bundles_gives_zero_attached_loss():
    batch, out = synthetic_batch(seed=0)
    batch["window_bundle"][:] = -1
    batch["window_question"][:] = -1
    for name in ("ce_answer", "ce_question", "ce_two_way", "ce_full", "ce_joint", "unlikelihood"):
        total = call(build_loss(name), batch, out).total
        assert total.item() == 0.0 and total.requires_grad and math.isfinite(total.item())


def test_masked_gold_drops_the_question():
    batch, out = bundle_batch(0)
    batch["bundle_mask"][:, :] = False  # no answer is inside any window
    result = call(build_loss("ce_question"), batch, out)
    assert result.components["questions"] == 0 and result.total.item() == 0.0


def test_bad_joint_normaliser_fails():
    with pytest.raises(ValueError, match="normaliser"):
        build_loss("ce_joint", normaliser="crossed")
