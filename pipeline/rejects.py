"""Build rows of the `rejects` artifact: every dropped record with file, record, field and reason."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from pipeline.io import empty_frame
from pipeline.schemas import REJECTS

DETAIL_MAX = 300


def reject(stage: str, source_file: str, record_id: str, field: str, reason: str, detail: str = "") -> dict[str, str]:
    """One rejects row. `reason` is a short snake_case code; `detail` is for humans."""
    return {
        "stage": stage,
        "source_file": str(source_file),
        "record_id": str(record_id),
        "field": field,
        "reason": reason,
        "detail": detail[:DETAIL_MAX],
    }


def rejects_frame(rows: Iterable[dict[str, str]]) -> pl.DataFrame:
    """Rows from `reject` as a frame with the REJECTS columns (empty frame when no rows)."""
    rows = list(rows)
    if not rows:
        return empty_frame(REJECTS)
    return pl.DataFrame(rows, schema=empty_frame(REJECTS).schema)
