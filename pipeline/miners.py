"""The miner registry: every miner, the artifacts it reads and writes, and its config class.

    python -c "from pipeline.miners import MINERS; print({n: [s.name for s in m.outputs] for n, m in MINERS.items()})"

A miner is a pure function `mine(*inputs, cfg[, previous=]) -> (rows, rejects, stats)` in a
module of its own; one entry here registers it. `pipeline.stages.run_miner` does the rest
for every miner alike: reads the declared inputs of one dataset/split partition, skips when
their fingerprints and the config equal those it recorded, passes what can be reused,
checks every span against its context, and writes each output as the miner's own part file
`part-<miner>.parquet` of the partition (with its record under `writers.<miner>` in the
manifest) and its rejects as `part-<miner>.parquet` of `rejects`. Two miners writing one
artifact (`ropes_bundles` and `flips` both write `bundles`) never touch each other's part.
The config class makes the miner's YAML section known to `pipeline.build_config`.

Inputs, passed positionally in the declared order:
- `examples`, `contexts`: the partition's frames (partition columns dropped);
- `index`: the spaCy index rows of the partition's contexts (the build's `index` config);
- `nlp`: that `IndexConfig` itself (a miner that runs the index's model again);
- `partition`: `examples/<dataset>/<split>`, the name rejects rows give as their source.
`rows` is a frame of the single output, or {artifact name: frame} for several; `rejects` a
REJECTS frame; `stats` the numbers of the stage report.

Incremental reuse (`groups`): `groups(*inputs, cfg)` maps each group of the partition to a
fingerprint of what its rows depend on; `mine` then also gets `previous=Previous(...)`: the
miner's own rows of its last run and the groups whose fingerprint is unchanged (none after
`--force`, a schema change or on a first run), whose rows it may keep instead of mining
them again. `per_context_id` is the usual grouping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from pipeline.flips import FlipConfig, mine_flips
from pipeline.io import fingerprint
from pipeline.near_miss import NearMissConfig, mine_near_miss
from pipeline.ropes_bundles import RopesBundlesConfig, mine_ropes_bundles, situation_groups
from pipeline.schemas import BUNDLES, CONTEXTS, EXAMPLES, FLIPS, NEAR_MISS, REJECTS, SYNTHETIC, ArtifactSpec
from pipeline.synthetic import SyntheticConfig, mine_synthetic

INPUTS = ("examples", "contexts", "index", "nlp", "partition")
LOAD_OUTPUTS = (EXAMPLES, CONTEXTS, REJECTS)  # what the load stage writes per dataset/split (rejects: every stage)


@dataclass(frozen=True)
class Previous:
    """What a miner with `groups` may reuse from its last run on the partition."""

    rows: Mapping[str, pl.DataFrame] = field(default_factory=dict)  # artifact name -> the miner's previous rows
    # groups whose fingerprint equals the recorded one (their rows are in `rows`)
    unchanged: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Miner:
    outputs: tuple[ArtifactSpec, ...]  # artifacts it writes (dataset/split partitions), first = the report's rows
    inputs: tuple[str, ...]  # what `mine` takes, in order, drawn from INPUTS
    mine: Callable[..., tuple]  # (*inputs, cfg[, previous=]) -> (rows, rejects, stats)
    config_type: type  # frozen dataclass of its YAML section (named after the miner)
    groups: Callable[..., dict[str, str]] | None = None  # (*inputs, cfg) -> group -> fingerprint: reuse per group

    def __post_init__(self) -> None:
        bad = [i for i in self.inputs if i not in INPUTS]
        if bad or not self.outputs or any(s.partition_by != ("dataset", "split") for s in self.outputs):
            raise ValueError(
                f"Miner: inputs {bad} not among {list(INPUTS)}, or no outputs, or an output not partitioned "
                f"by dataset/split ({[(s.name, s.partition_by) for s in self.outputs]})"
            )


def per_context_id(examples: pl.DataFrame, *rest: Any) -> dict[str, str]:
    """Reuse per `context_id` group: a context's fingerprint covers its questions, answers and the config.

    `rest`: the miner's other inputs, then its config (the context text is in its content-hash id)."""
    cfg = rest[-1]
    out: dict[str, list[Any]] = {}
    for cid, eid, q, ans in (
        examples.select("context_id", "example_id", "question", "answers").sort("example_id").iter_rows()
    ):
        out.setdefault(cid, []).append([eid, q, ans])
    return {cid: fingerprint({"cfg": asdict(cfg), "rows": rows}) for cid, rows in out.items()}


MINERS: dict[str, Miner] = {
    "near_miss": Miner((NEAR_MISS,), ("examples", "contexts", "index"), mine_near_miss, NearMissConfig),
    "ropes_bundles": Miner(
        (BUNDLES,), ("examples", "partition"), mine_ropes_bundles, RopesBundlesConfig, groups=situation_groups
    ),
    "flips": Miner(
        (FLIPS, BUNDLES), ("examples", "contexts", "partition"), mine_flips, FlipConfig, groups=per_context_id
    ),
    "synthetic": Miner(
        (SYNTHETIC,), ("examples", "contexts", "index", "nlp", "partition"), mine_synthetic, SyntheticConfig
    ),
}


def mined_artifacts() -> tuple[ArtifactSpec, ...]:
    """Every artifact a build writes per dataset/split: the load stage's and each registered miner's outputs."""
    out = {s.name: s for s in LOAD_OUTPUTS}
    out.update((s.name, s) for m in MINERS.values() for s in m.outputs)
    return tuple(out.values())
