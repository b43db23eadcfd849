"""`read_results`: exported results read back as they were written.

`BenchmarkResult.to_csv` / `to_json` / `to_parquet` write one row per call and a
`<name>.manifest.json` beside the file. CSV and JSON keep no types, so reading them with
pandas alone turns an empty `status_code` into float64, ids such as "007" into numbers and
`started_at` into text. `read_results` reads the text columns as text and gives every column
of `frames.ROW_COLUMNS` its dtype again; other columns (scores, metadata) are kept as read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from .frames import ROW_COLUMNS, rows_to_frame
from .run import manifest_path

__all__ = ["MAX_RESULTS_BYTES", "read_results"]

MAX_RESULTS_BYTES = 2_000_000_000
"""The largest results file `read_results` opens by default (pass `max_bytes` to change it)."""

_TEXT = [name for name, dtype in ROW_COLUMNS.items() if dtype == "object"]


def read_results(path: str | Path, *, max_bytes: int = MAX_RESULTS_BYTES) -> pd.DataFrame:
    """Read an exported results file (.csv, .json or .parquet) with the dtypes it was written
    with; its manifest, when found beside it, is in `df.attrs["manifest"]`.

    Raises:
        ConfigError: For a missing, oversized or unreadable file, an unknown suffix, or a
            file that is not a results table (the message names what is missing).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no results file at {path}")
    if path.stat().st_size > max_bytes:
        raise ConfigError(f"{path} is {path.stat().st_size:,} bytes, over max_bytes={max_bytes:,}; raise it to read it")
    raw = _read(path)
    missing = [name for name in ("target", "trial", "ok", "attempts") if name not in raw.columns]
    if missing:
        raise ConfigError(f"{path} is not a results table: no {', '.join(missing)} column (it has {list(raw.columns)})")
    try:
        typed = rows_to_frame(raw)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    extra = raw[[c for c in raw.columns if c not in ROW_COLUMNS]]
    out = pd.concat([typed, extra.reset_index(drop=True)], axis=1)
    manifest = manifest_path(path)
    if manifest.is_file():
        out.attrs["manifest"] = json.loads(manifest.read_text())
    return out


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=dict.fromkeys(_TEXT, str), keep_default_na=True)
        if suffix == ".json":
            return pd.read_json(path, orient="records", dtype=False)
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except ImportError:
        raise ConfigError('reading Parquet needs pyarrow: pip install "closedpaw_nb[parquet]"') from None
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    raise ConfigError(f"read_results reads .csv, .json or .parquet files, not {suffix or 'a file without suffix'}")
