"""The published numbers (``published.csv``): one row per printed cell of the papers' tables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

PUBLISHED_CSV = Path(__file__).with_name("published.csv")
TEXT_COLUMNS = ("paper", "table", "row", "col", "optimizer", "model", "dataset", "metric", "unit", "note")


@lru_cache(maxsize=1)
def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, comment="#", dtype={c: str for c in TEXT_COLUMNS}, keep_default_na=False,
                        na_values={"value": [""], "std": [""]})
    frame["value"] = frame["value"].astype(float)
    frame["std"] = frame["std"].astype(float)
    return frame


def load_published(path: Path | None = None) -> pd.DataFrame:
    """The published numbers; ``std`` is NaN where the paper prints no spread."""
    return _read(Path(path or PUBLISHED_CSV)).copy()


def published_table(paper: str, table: str) -> pd.DataFrame:
    """The rows of one table, indexed by the printed (row, col) labels."""
    frame = load_published()
    return frame[(frame["paper"] == paper) & (frame["table"] == str(table))].set_index(["row", "col"])
