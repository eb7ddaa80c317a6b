"""CRF negative log-likelihood over BIO tags (docs/methods.md §4, SpanBERT-CRF).

    L = mean over windows [ log Σ_y exp score(x, y) − score(x, y_gold) ]

with x = ``crf_emissions`` from the model's CRF head and y_gold = ``bio_tags`` (gold first
answer; question/special/padding tokens O). The mask is the attention mask (position 0,
CLS, is always real). Transitions live in a ``BioCrf`` (training/crf.py): pass the model's
own CRF so that training and decoding share them; otherwise this loss owns one, and its
parameters must then go to the optimizer and the checkpoint with the loss module.

| name | shape | dtype |
| --- | --- | --- |
| crf_emissions | (W, L, 3) | float |
| bio_tags | (W, L) | long 0=O 1=B 2=I |
| attention_mask | (W, L) | long / bool |
"""

from __future__ import annotations

from torch import Tensor, nn

from training.crf import BioCrf
from training.losses.output import LossOutput, detached


class CrfNllLoss(nn.Module):
    inputs = ("crf_emissions", "bio_tags", "attention_mask")
    # Read by training.config.check_losses, whatever the weight (the module is called at weight 0 too):
    # setting -> (required value, why). The emissions exist only with the model's CRF head.
    requires = {"model.crf_head": (True, "its emissions come from the model's CRF head")}
    # Read by training.loop.build_objective: constructor argument -> model attribute handed over
    # when the model has one, so that training and decoding share the transitions.
    from_model = {"crf": "crf"}

    def __init__(self, crf: BioCrf | None = None) -> None:
        super().__init__()
        self.crf = crf if crf is not None else BioCrf()  # transition scores (shared with decoding)

    def forward(self, crf_emissions: Tensor, bio_tags: Tensor, attention_mask: Tensor) -> LossOutput:
        nll = self.crf.nll(crf_emissions, bio_tags, attention_mask.bool())
        return LossOutput(nll, detached(crf_nll=nll))
