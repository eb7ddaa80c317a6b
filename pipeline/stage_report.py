"""What one stage run did, for logs, the Prefect table artifact and the markdown report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StageReport:
    stage: str  # `load`, `index`, `near_miss`, `bundles`, `flips`, `synthetic`, ...
    dataset: str  # dataset partition value
    split: str  # split partition value
    rows: int = 0  # rows in the written (or reused) partition
    rejects: int = 0  # rows this stage sent to `rejects`
    seconds: float = 0.0  # wall time of this stage run
    skipped: bool = False  # true when inputs and config were unchanged: nothing rewritten
    path: str = ""  # partition folder written or reused
    stats: dict[str, Any] = field(default_factory=dict)  # stage-specific numbers (histograms, shares)

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["seconds"] = round(self.seconds, 3)
        return row
