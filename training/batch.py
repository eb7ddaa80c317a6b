"""The batch contract: every tensor a loss can read, declared once in `BATCH`.

Each `Key` states its shape in named dims, its dtype in the batch, what fills the entries
that hold nothing (`pad`), where it comes from and the setting that produces it:

- ``source="window"``: written by featurization (`training.features.featurize`), one row per
  window, kept in `Features.arrays` (and the feature cache) as `storage` and stacked by
  `training.features.collate`; an ``L`` dim is cut to the batch length there. `host` keys
  stay numpy on the CPU (`Batch.host`, for decoding) instead of becoming tensors.
- ``source="example"``: computed by `collate` from the batch's examples (one value per
  example, repeated over its windows) by the key's `per_example` function.
- ``source="model"``: the model's forward output (`training.model.QaModel.forward`).

``setting`` is the config field that fills the key (``data.near_miss`` → near-miss negative
spans, ...); ``None`` means every run has it. Without its setting a window key still exists
but holds only `pad` (every slot masked). Dims: B windows in the batch, L tokens per window
(``features.max_length`` when stored, cut to the longest window of a batch by collate),
K = ``features.max_negatives``, A = the most bundle answers of any featurized example (at
least 1), Z = ``features.max_topk``, H the encoder's hidden size, 2 = (start, end) inclusive
token positions, 3 = BIO tags.

Checked against: featurization's output (`check_arrays`, also on every feature-cache load, so a
stored layout that is not this table's is refused and rebuilt, never read), each loss's
``inputs`` at config time (`check_loss_inputs`, called by `training.config.check_losses`)
and any tensor dict said to follow it (`check_batch`: the collated batches and
`training.losses.synthetic_batch`, in tests/training/test_batch.py).

The storage dtypes are the feature cache's layout (`training.features.CACHE_VERSION`): a
change to them, to the window keys or their dims must bump that version
(tests/training/test_batch.py pins the layout of version 1).

Adding a batch key: (1) declare it here (dims, dtype, pad, source, setting); (2) a window
key: compute it in `training.features._chunk_features` (collate stacks it, the cache stores
it), then bump `CACHE_VERSION` and the pinned layout; an example key: its `per_example`
function is all collate needs; (3) a loss that reads it lists it in ``inputs`` and the
config check knows which setting it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.data import TrainExample

PAD_TOKEN = "tokenizer.pad_token_id"  # `pad` of input_ids: the tokenizer's own padding id
PAD_TOKEN_TYPE = "tokenizer.pad_token_type_id"
SOURCES = ("window", "example", "model")
DTYPES = ("long", "bool", "float")  # torch dtype names of batch tensors


@dataclass(frozen=True)
class Key:
    """One batch key (see the module docstring)."""

    name: str
    dims: tuple[str | int, ...]  # named dims ("B", "L") or fixed sizes (2 = start/end)
    dtype: str  # in the batch: "long" / "bool" / "float" (torch); a host key: its numpy dtype
    source: str  # "window" | "example" | "model"
    doc: str
    setting: str | None = None  # config field that fills it; None = every run
    pad: Any = 0  # value of every entry that holds nothing (beyond a window's tokens, a masked slot)
    storage: str | None = None  # numpy dtype in Features.arrays and the feature cache (window keys)
    mask: str | None = None  # the key whose False entries mark the slots holding `pad`
    optional: bool = False  # may be absent (token_type_ids: tokenizers without segment ids)
    host: bool = False  # stays a numpy array on the CPU (Batch.host), not a tensor
    per_example: Callable[[Sequence[TrainExample]], list[int]] | None = None  # example keys

    def __post_init__(self) -> None:
        assert self.source in SOURCES, self
        assert (self.source == "window") == (self.storage is not None), self
        assert (self.source == "example") == (self.per_example is not None), self
        assert self.host or self.dtype in DTYPES, self


def _bundle_index(examples: Sequence[TrainExample]) -> list[int]:
    """Batch-local bundle index (first appearance order), -1 for an example outside any bundle."""
    ids = {b: j for j, b in enumerate(dict.fromkeys(e.bundle_id for e in examples if e.bundle_id is not None))}
    return [ids[e.bundle_id] if e.bundle_id is not None else -1 for e in examples]


def _bundle_question(examples: Sequence[TrainExample]) -> list[int]:
    return [e.bundle_question if e.bundle_id is not None else -1 for e in examples]


def _bundle_gold(examples: Sequence[TrainExample]) -> list[int]:
    return [e.bundle_gold if e.bundle_id is not None else -1 for e in examples]


_W, _E, _M = "window", "example", "model"
BATCH: tuple[Key, ...] = (
    # Always present: the encoder's inputs, the segments, the gold answers.
    Key("input_ids", ("B", "L"), "long", _W, "token ids", pad=PAD_TOKEN, storage="int32"),
    Key("attention_mask", ("B", "L"), "long", _W, "1 on the window's tokens", storage="int8"),
    Key(
        "token_type_ids",
        ("B", "L"),
        "long",
        _W,
        "segment ids (question 0, context 1)",
        pad=PAD_TOKEN_TYPE,
        storage="int8",
        optional=True,
    ),
    Key("context_mask", ("B", "L"), "bool", _W, "context tokens (no specials, no question)", pad=False, storage="bool"),
    Key("question_mask", ("B", "L"), "bool", _W, "question tokens", pad=False, storage="bool"),
    Key(
        "offsets",
        ("B", "L", 2),
        "int32",
        _W,
        "char offsets of context tokens in the context, -1 elsewhere",
        pad=-1,
        storage="int32",
        host=True,
    ),
    Key(
        "start_positions", ("B",), "long", _W, "first gold's start token; 0 when the window misses it", storage="int16"
    ),
    Key("end_positions", ("B",), "long", _W, "first gold's end token; 0 when the window misses it", storage="int16"),
    Key(
        "gold_start_multi", ("B", "L"), "float", _W, "1 at the start token of every gold in the window", storage="bool"
    ),
    Key("gold_end_multi", ("B", "L"), "float", _W, "1 at the end token of every gold in the window", storage="bool"),
    Key("has_answer", ("B",), "bool", _W, "the window fully holds some gold", pad=False, storage="bool"),
    Key("bio_tags", ("B", "L"), "long", _W, "BIO tags of the first gold (O=0, B=1, I=2)", storage="int8"),
    # data.near_miss: K near-miss negative spans, only in windows holding the first gold.
    Key(
        "neg_spans",
        ("B", "K", 2),
        "long",
        _W,
        "near-miss negative spans",
        setting="data.near_miss",
        storage="int16",
        mask="neg_mask",
    ),
    Key(
        "neg_mask",
        ("B", "K"),
        "bool",
        _W,
        "which negative slots hold a span",
        setting="data.near_miss",
        pad=False,
        storage="bool",
    ),
    # data.bundles: the answers of the example's instance bundle and where it sits in it.
    Key(
        "bundle_spans",
        ("B", "A", 2),
        "long",
        _W,
        "the bundle's answers in this context",
        setting="data.bundles",
        storage="int16",
        mask="bundle_mask",
    ),
    Key(
        "bundle_mask",
        ("B", "A"),
        "bool",
        _W,
        "which bundle answers the window holds",
        setting="data.bundles",
        pad=False,
        storage="bool",
    ),
    Key(
        "window_bundle",
        ("B",),
        "long",
        _E,
        "batch-local bundle index",
        setting="data.bundles",
        pad=-1,
        per_example=_bundle_index,
    ),
    Key(
        "window_question",
        ("B",),
        "long",
        _E,
        "the example's question index in its bundle",
        setting="data.bundles",
        pad=-1,
        per_example=_bundle_question,
    ),
    Key(
        "bundle_gold",
        ("B",),
        "long",
        _E,
        "index of the example's gold among the bundle answers",
        setting="data.bundles",
        pad=-1,
        per_example=_bundle_gold,
    ),
    # data.topk_model: Z candidate spans of a trained model.
    Key(
        "topk_spans",
        ("B", "Z", 2),
        "long",
        _W,
        "top-k candidate spans",
        setting="data.topk_model",
        storage="int16",
        mask="topk_mask",
    ),
    Key(
        "topk_mask",
        ("B", "Z"),
        "bool",
        _W,
        "which top-k slots the window holds",
        setting="data.topk_model",
        pad=False,
        storage="bool",
    ),
    Key(
        "topk_is_gold",
        ("B", "Z"),
        "bool",
        _W,
        "the slot's candidate is a gold answer",
        setting="data.topk_model",
        pad=False,
        storage="bool",
        mask="topk_mask",
    ),
    # Always: the batch-local example of each window.
    Key(
        "window_example",
        ("B",),
        "long",
        _E,
        "index of the window's example in the batch",
        per_example=lambda examples: list(range(len(examples))),
    ),
    # The model's outputs (no padding: the losses mask with context_mask / attention_mask).
    Key("start_logits", ("B", "L"), "float", _M, "start scores", pad=None),
    Key("end_logits", ("B", "L"), "float", _M, "end scores", pad=None),
    Key(
        "hidden_states", ("B", "L", "H"), "float", _M, "last hidden states (computed when a loss reads them)", pad=None
    ),
    Key(
        "crf_emissions",
        ("B", "L", 3),
        "float",
        _M,
        "BIO emission scores of the CRF head",
        setting="model.crf_head",
        pad=None,
    ),
)
KEYS: dict[str, Key] = {k.name: k for k in BATCH}
assert len(KEYS) == len(BATCH), "a batch key is declared twice"


def keys(source: str) -> tuple[Key, ...]:
    """The declared keys of one source, in table order."""
    return tuple(k for k in BATCH if k.source == source)


def input_sources() -> dict[str, str]:
    """Key → the setting that fills it, for the keys that need one (`training.losses.loss_requirements` reads it)."""
    return {k.name: k.setting for k in BATCH if k.setting is not None}


def pad_value(key: Key, tokenizer=None):
    """The key's padding value; the tokenizer's own ids for input_ids / token_type_ids."""
    if key.pad == PAD_TOKEN:
        return tokenizer.pad_token_id
    if key.pad == PAD_TOKEN_TYPE:
        return getattr(tokenizer, "pad_token_type_id", 0)
    return key.pad


# Checks ------------------------------------------------------------------------------------


def check_padding(arrays: dict, tokenizer=None) -> list[str]:
    """Errors where stored windows do not hold a key's `pad`.

    Checked beyond each window's tokens (L dims) and in masked slots."""

    errors = []
    beyond = arrays["attention_mask"] == 0  # (W, L)
    for key in keys("window"):
        if key.name not in arrays:
            continue
        arr, pad = arrays[key.name], pad_value(key, tokenizer)
        if len(key.dims) > 1 and key.dims[1] == "L":
            bad = int((arr[beyond] != pad).sum())
            if bad:
                errors.append(f"{key.name}: {bad} entries beyond the windows' tokens are not the pad {pad!r}")
        if key.mask is not None:
            bad = int((arr[~arrays[key.mask]] != pad).sum())
            if bad:
                errors.append(f"{key.name}: {bad} entries of slots that {key.mask} marks empty are not the pad {pad!r}")
    return errors


def _setting_on(cfg, setting: str) -> bool:
    node: Any = cfg
    for part in setting.split("."):
        node = getattr(node, part)
    return node is not None and node is not False


def check_loss_inputs(cfg) -> list[str]:
    """Error messages for the run's losses whose inputs the batch cannot hold (empty: all fine).

    Every loss (any weight: the objective calls each one) must read only declared keys; a
    weighted loss must not read a key whose setting is off in this run (it would see only
    padding: a silent no-op), unless the loss lists the key in ``optional_inputs``. Each
    message names the loss (``losses.<i> (<name>)``), the key(s) and the setting that would
    produce them.
    """
    from training.losses import LOSSES

    errors = []
    for i, spec in enumerate(cfg.losses):
        cls = LOSSES.get(spec.name)
        if cls is None:
            continue  # an unknown name is reported by the loss-name check
        undeclared = [k for k in cls.inputs if k not in KEYS]
        if undeclared:
            errors.append(
                f"losses.{i} ({spec.name}): reads {', '.join(undeclared)}, which no batch key or model output "
                f"declares (training/batch.py BATCH); declare it there with the data setting that produces it"
            )
        if spec.weight == 0:
            continue  # an equal-budget control's zeroed term trains nothing either way
        optional = set(getattr(cls, "optional_inputs", ()))
        missing: dict[str, list[str]] = {}
        for name in cls.inputs:
            key = KEYS.get(name)
            if (
                key is not None
                and key.setting is not None
                and name not in optional
                and not _setting_on(cfg, key.setting)
            ):
                missing.setdefault(key.setting, []).append(name)
        for setting, names in missing.items():
            errors.append(
                f"losses.{i} ({spec.name}): reads {', '.join(names)}, which only {setting} produces, "
                f"but {setting} is off — the loss would never see its inputs; set {setting} or remove the loss"
            )
    return errors


def _shape_errors(items: dict[str, tuple[Key, tuple[int, ...]]], sizes: dict[str, int]) -> list[str]:
    """Each array's rank and fixed dims; a named dim must have one size across keys (and `sizes`' value)."""
    errors, seen, where = [], {}, {}
    for name, (key, shape) in items.items():
        if len(shape) != len(key.dims):
            errors.append(f"{name}: shape {shape}, expected {key.dims}")
            continue
        for dim, n in zip(key.dims, shape):
            if isinstance(dim, int):
                if n != dim:
                    errors.append(f"{name}: shape {shape}, expected {key.dims}")
            elif dim in sizes:
                if n != sizes[dim]:
                    errors.append(f"{name}: dim {dim} is {n}, expected {sizes[dim]}")
            elif dim not in seen:
                seen[dim], where[dim] = n, name
            elif seen[dim] != n:
                errors.append(f"{name}: dim {dim} is {n}, but {seen[dim]} in {where[dim]}")
    return errors


def check_arrays(arrays: dict, sizes: dict[str, int] | None = None) -> list[str]:
    """Errors of featurization output (`Features.arrays`) against the window keys: names, storage dtypes, dims.

    `sizes` pins named dims (e.g. ``{"L": max_length, "K": max_negatives, "Z": max_topk}``).
    """
    import numpy as np

    declared = {k.name: k for k in keys("window")}
    errors = [f"{name}: not a declared window key (training/batch.py)" for name in arrays if name not in declared]
    errors += [f"{k.name}: missing" for k in declared.values() if k.name not in arrays and not k.optional]
    items = {}
    for name, arr in arrays.items():
        key = declared.get(name)
        if key is None:
            continue
        if arr.dtype != np.dtype(key.storage):
            errors.append(f"{name}: stored as {arr.dtype}, declared {key.storage}")
        items[name] = (key, tuple(arr.shape))
    return errors + _shape_errors(items, sizes or {})


def check_batch(
    tensors: dict, sizes: dict[str, int] | None = None, *, sources: tuple[str, ...] = ("window", "example")
) -> list[str]:
    """Errors of a tensor dict against the table: every non-optional key of `sources`, no undeclared key, dtypes, dims.

    Host keys (offsets) are not tensors and are not expected. A "float" key may be any
    floating dtype (tests use float64).
    """
    import torch

    want = {k.name: k for k in BATCH if k.source in sources and not k.host}
    errors = [
        f"{name}: not a declared batch key of {sources} (training/batch.py)" for name in tensors if name not in want
    ]
    errors += [f"{k.name}: missing" for k in want.values() if k.name not in tensors and not k.optional]
    items = {}
    for name, t in tensors.items():
        key = want.get(name)
        if key is None:
            continue
        ok = (
            t.is_floating_point()
            if key.dtype == "float"
            else t.dtype == {"long": torch.long, "bool": torch.bool}[key.dtype]
        )
        if not ok:
            errors.append(f"{name}: {t.dtype}, declared {key.dtype}")
        items[name] = (key, tuple(t.shape))
    return errors + _shape_errors(items, sizes or {})


__all__ = [
    "BATCH",
    "KEYS",
    "Key",
    "check_arrays",
    "check_batch",
    "check_loss_inputs",
    "check_padding",
    "input_sources",
    "keys",
    "pad_value",
]
