"""A linear-chain CRF over BIO tags for span extraction (docs/methods.md §4, SpanBERT-CRF).

Tags: 0 = O, 1 = B, 2 = I. Question and special tokens are tagged O. The transitions
O→I and START→I are forbidden: a constant ``FORBIDDEN`` (−10⁴, finite so gold paths that
break the rule give a large but finite loss instead of inf/NaN) is added to the learnable
scores there. Sequence score of tags y under emissions x:

    score(x, y) = start[y_0] + Σ_t x_t[y_t] + Σ_{t≥1} T[y_{t−1}, y_t] + end[y_last]
    nll = log Σ_y' exp score(x, y') − score(x, y)            (forward algorithm)

Masks follow the pytorch-crf rule: the first position is always unmasked; here the mask
must also be a prefix (attention-mask shaped) and a bad mask raises ValueError.
``decode`` returns, per window, the highest-scoring sequence of the form O* B I* O* over
the real positions — a constrained Viterbi over four states (O-before, B, I, O-after) —
as an inclusive token span (start, end), or None when all-O scores higher.
``viterbi_tags`` is the unconstrained Viterbi path (may hold several B I* runs).

| name | shape | dtype |
| --- | --- | --- |
| emissions | (W, L, 3) | float |
| tags | (W, L) | long |
| mask | (W, L) | bool, prefix, mask[:, 0] True |
| allowed (decode) | (W, L) | bool, positions a span may cover (e.g. context) |
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

O, B, I = 0, 1, 2
NUM_TAGS = 3
FORBIDDEN = -10_000.0
# decode's four states and the BIO tag each one emits: O-before, B, I, O-after
SPAN_STATE_TAGS = (O, B, I, O)
SPAN_MOVES = ((0, 0), (0, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3))


def log_identity(like: Tensor) -> Tensor:
    """Identity of the log-space (logsumexp, +) matrix product; FORBIDDEN, not -inf, off the diagonal
    so that gradients stay finite (exp(FORBIDDEN) underflows to exactly 0).  # (3, 3)"""
    eye = torch.eye(NUM_TAGS, dtype=torch.bool, device=like.device)
    return torch.where(eye, 0.0, FORBIDDEN).to(like.dtype)


def log_matmul(left: Tensor, right: Tensor) -> Tensor:
    """out[..., i, k] = logsumexp_j left[..., i, j] + right[..., j, k]."""
    return torch.logsumexp(left.unsqueeze(-1) + right.unsqueeze(-3), dim=-2)


def check_mask(mask: Tensor) -> Tensor:
    """The mask as bool; ValueError unless position 0 is on and the mask is a prefix."""
    mask = mask.bool()
    if not bool(mask[:, 0].all()):
        raise ValueError("crf mask: the first position of every window must be unmasked")
    if mask.shape[1] > 1 and bool((mask[:, 1:] & ~mask[:, :-1]).any()):
        raise ValueError("crf mask: must be a prefix (no unmasked position after a masked one)")
    return mask


def viterbi(emissions: Tensor, mask: Tensor, start: Tensor, trans: Tensor, end: Tensor) -> Tensor:
    """Best state path per window under (start, trans, end); masked steps repeat the state.  # (W, L)"""
    num_w, length, num_s = emissions.shape
    score = start + emissions[:, 0]  # (W, S)
    pointers = []
    keep = torch.arange(num_s, device=emissions.device).expand(num_w, num_s)  # (W, S)
    for t in range(1, length):
        cand = score.unsqueeze(-1) + trans  # (W, S_from, S_to)
        best, arg = cand.max(dim=1)  # (W, S)
        on = mask[:, t].unsqueeze(-1)  # (W, 1)
        score = torch.where(on, best + emissions[:, t], score)
        pointers.append(torch.where(on, arg, keep))
    state = (score + end).argmax(-1)  # (W,)
    path = [state]
    for arg in reversed(pointers):
        state = arg.gather(1, state.unsqueeze(-1)).squeeze(-1)  # (W,)
        path.append(state)
    return torch.stack(path[::-1], dim=1)  # (W, L)


class BioCrf(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(NUM_TAGS, NUM_TAGS))  # T[from, to]
        self.start_transitions = nn.Parameter(torch.zeros(NUM_TAGS))  # START → tag
        self.end_transitions = nn.Parameter(torch.zeros(NUM_TAGS))  # tag → END
        forbid = torch.zeros(NUM_TAGS, NUM_TAGS)
        forbid[O, I] = FORBIDDEN
        forbid_start = torch.zeros(NUM_TAGS)
        forbid_start[I] = FORBIDDEN
        self.register_buffer("forbidden", forbid, persistent=False)
        self.register_buffer("forbidden_start", forbid_start, persistent=False)

    def scores(self) -> tuple[Tensor, Tensor, Tensor]:
        """(start, transitions, end) with the forbidden moves applied."""
        return self.start_transitions + self.forbidden_start, self.transitions + self.forbidden, self.end_transitions

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """log Σ over all tag sequences of exp score.  # (W,)

        The forward algorithm as a parallel scan: step t is the matrix
        M_t[i, j] = T[i, j] + x_t[j] (a log-space identity where masked), and the chain
        M_1 ⊗ … ⊗ M_{L−1} is reduced pairwise in log space — log2(L) rounds instead of L.
        """
        mask = check_mask(mask)
        start, trans, end = self.scores()
        num_w, length, _ = emissions.shape
        identity = log_identity(emissions)  # (3, 3)
        steps = trans + emissions[:, 1:].unsqueeze(-2)  # (W, L-1, 3, 3)
        steps = torch.where(mask[:, 1:, None, None], steps, identity)
        while steps.shape[1] > 1:
            if steps.shape[1] % 2:
                steps = torch.cat([steps, identity.expand(num_w, 1, NUM_TAGS, NUM_TAGS)], dim=1)
            steps = log_matmul(steps[:, 0::2], steps[:, 1::2])  # (W, ceil(T/2), 3, 3)
        alpha = start + emissions[:, 0]  # (W, 3)
        if length > 1:
            alpha = torch.logsumexp(alpha.unsqueeze(-1) + steps[:, 0], dim=1)  # (W, 3)
        return torch.logsumexp(alpha + end, dim=-1)

    def sequence_score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """score(x, y) of the given tag sequences.  # (W,)"""
        mask = check_mask(mask)
        start, trans, end = self.scores()
        emit = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1)  # (W, L)
        moves = trans[tags[:, :-1], tags[:, 1:]]  # (W, L-1)
        steps = torch.where(mask[:, 1:], emit[:, 1:] + moves, torch.zeros_like(moves))  # (W, L-1)
        last = tags.gather(1, (mask.sum(1, keepdim=True) - 1)).squeeze(1)  # (W,)
        return start[tags[:, 0]] + emit[:, 0] + steps.sum(1) + end[last]

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Mean over windows of log Z − score(gold tags)."""
        return (self.log_partition(emissions, mask) - self.sequence_score(emissions, tags, mask)).mean()

    @torch.no_grad()
    def viterbi_tags(self, emissions: Tensor, mask: Tensor) -> list[list[int]]:
        """Unconstrained best BIO tag sequence per window, cut to the unmasked length."""
        mask = check_mask(mask)
        start, trans, end = self.scores()
        path = viterbi(emissions, mask, start, trans, end)  # (W, L)
        lengths = mask.sum(1).tolist()
        return [row[:n] for row, n in zip(path.tolist(), lengths)]

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor, allowed: Tensor | None = None) -> list[tuple[int, int] | None]:
        """Highest-scoring single B I* span per window (inclusive token positions) or None for all-O."""
        mask = check_mask(mask)
        start3, trans3, end3 = self.scores()
        tag_of = torch.tensor(SPAN_STATE_TAGS, device=emissions.device)  # (4,)
        emit = emissions[..., tag_of]  # (W, L, 4)
        if allowed is not None:
            outside = ~allowed.bool()  # (W, L)
            emit = emit.clone()
            emit[..., 1:3] = emit[..., 1:3].masked_fill(outside.unsqueeze(-1), float("-inf"))
        trans = torch.full((4, 4), float("-inf"), device=emissions.device, dtype=emissions.dtype)
        for frm, to in SPAN_MOVES:
            trans[frm, to] = trans3[SPAN_STATE_TAGS[frm], SPAN_STATE_TAGS[to]]
        start = torch.stack([start3[O], start3[B], start3.new_tensor(float("-inf")), start3.new_tensor(float("-inf"))])
        end = end3[tag_of]  # (4,)
        path = viterbi(emit, mask, start, trans, end)  # (W, L)
        in_span = ((path == 1) | (path == 2)) & mask  # (W, L)
        spans: list[tuple[int, int] | None] = []
        for row in in_span.tolist():
            positions = [t for t, on in enumerate(row) if on]
            spans.append((positions[0], positions[-1]) if positions else None)
        return spans
