"""The QA model: `AutoModelForQuestionAnswering` + an optional BIO-CRF head.

    model, tokenizer = load_model(cfg.model, device="cpu", seed=13)

`model.name` is a hub id (real code path; needs the network or the HF cache), a local
folder (offline), `minilm` (the packaged MiniLM-L6 folder) or `tiny` (a 2-layer, hidden-32
BERT with random weights and the MiniLM tokenizer, for tests). On CPU the attention
dropout defaults to 0.0 (a 2.5x faster step); on GPU the model's own value is kept.

`QaModel.forward(...)` returns the contract's output dict: `start_logits`, `end_logits`
(W, L), `hidden_states` (W, L, H) when asked for, `crf_emissions` (W, L, 3) with the CRF head.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoTokenizer, BertConfig

from training.config import TINY_ALIAS, ModelConfig, minilm_path, resolve_model_name

N_BIO_TAGS = 3
ENCODER_FILE = "model.safetensors"  # encoder weights under Hugging Face key names (folder loads with from_pretrained)
HEADS_FILE = "heads.safetensors"  # CRF emission layer + transitions


class QaModel(nn.Module):
    """Span start/end logits from the HF QA head, optional CRF emissions on the last hidden states."""

    def __init__(self, encoder: nn.Module, crf_head: bool = False):
        super().__init__()
        self.encoder = encoder
        self.crf_emission: nn.Linear | None = None
        self.crf: nn.Module | None = None
        if crf_head:
            from training.crf import BioCrf

            self.crf_emission = nn.Linear(encoder.config.hidden_size, N_BIO_TAGS)
            self.crf = BioCrf()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        token_type_ids: Tensor | None = None,
        *,
        need_hidden: bool = False,
    ) -> dict[str, Tensor]:
        want_hidden = need_hidden or self.crf_emission is not None
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask, "output_hidden_states": want_hidden}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        out = self.encoder(**kwargs)
        result = {"start_logits": out.start_logits, "end_logits": out.end_logits}
        if want_hidden:
            hidden = out.hidden_states[-1]  # (W, L, H)
            if need_hidden:
                result["hidden_states"] = hidden
            if self.crf_emission is not None:
                result["crf_emissions"] = self.crf_emission(hidden)  # (W, L, 3)
        return result

    def heads_state(self) -> dict[str, Tensor]:
        """State of the extra heads (empty without the CRF head)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def save(self, folder: str | Path, tokenizer=None) -> None:
        """Encoder in HF layout (config.json + model.safetensors, loadable by from_pretrained) + heads."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.encoder.state_dict().items()}
        save_file(state, folder / ENCODER_FILE, metadata={"format": "pt"})
        self.encoder.config.to_json_file(folder / "config.json")
        heads = {k: v.detach().contiguous().cpu() for k, v in self.heads_state().items()}
        if heads:
            save_file(heads, folder / HEADS_FILE)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)

    def load_weights(self, folder: str | Path, *, strict: bool = True) -> None:
        """Load encoder (+ heads when present) weights written by `save`."""
        folder = Path(folder)
        self.encoder.load_state_dict(load_file(folder / ENCODER_FILE), strict=strict)
        heads_path = folder / HEADS_FILE
        if heads_path.exists() and self.crf_emission is not None:
            heads = load_file(heads_path)
            self.load_state_dict(
                {**{f"encoder.{k}": v for k, v in self.encoder.state_dict().items()}, **heads}, strict=strict
            )


def tiny_config(vocab_size: int, *, hidden: int = 32, layers: int = 2, dropout: float = 0.1) -> BertConfig:
    """Config of a 2-layer, hidden-32 BERT (tests, benchmarks)."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=512,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )


def load_tokenizer(cfg: ModelConfig):
    """The run's fast tokenizer (`tiny` uses the packaged MiniLM tokenizer)."""
    path = str(minilm_path()) if cfg.name == TINY_ALIAS else resolve_model_name(cfg.name)
    return AutoTokenizer.from_pretrained(path, use_fast=True)


def _apply_dropout(config, cfg: ModelConfig, device: torch.device) -> None:
    attention = cfg.attention_dropout if cfg.attention_dropout is not None else (0.0 if device.type == "cpu" else None)
    for name in ("attention_probs_dropout_prob", "attention_dropout"):
        if attention is not None and hasattr(config, name):
            setattr(config, name, attention)
    for name in ("hidden_dropout_prob", "dropout"):
        if cfg.hidden_dropout is not None and hasattr(config, name):
            setattr(config, name, cfg.hidden_dropout)


def _version(dist: str) -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(x) for x in version(dist).split(".")[:2] if x.isdigit())


_FP32 = {"dtype" if _version("transformers") >= (4, 56) else "torch_dtype": torch.float32}  # `dtype` from 4.56


def load_model(cfg: ModelConfig, *, device: str | torch.device = "cpu", seed: int = 0) -> tuple[QaModel, object]:
    """Model + tokenizer; `seed` fixes the random init of new heads (qa_outputs, CRF)."""
    device = torch.device(device)
    tokenizer = load_tokenizer(cfg)
    torch.manual_seed(seed)
    if cfg.name == TINY_ALIAS:
        config = tiny_config(len(tokenizer))
        _apply_dropout(config, cfg, device)
        encoder = AutoModelForQuestionAnswering.from_config(config)
    else:
        path = resolve_model_name(cfg.name)
        config = AutoConfig.from_pretrained(path)
        _apply_dropout(config, cfg, device)
        # fp32 master weights whatever the file holds (an experiment pack's start weights are bf16;
        # transformers 5 would keep the file's dtype), and the new heads drawn in fp32 as from an fp32 file
        encoder = AutoModelForQuestionAnswering.from_pretrained(path, config=config, **_FP32)
    model = QaModel(encoder, crf_head=cfg.crf_head)
    return model.to(device), tokenizer
