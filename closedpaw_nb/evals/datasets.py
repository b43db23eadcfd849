"""Evaluation items: the question sets shipped with closedpaw_nb, and your own data as items.

An item is one row with

- `id`: a string, unique in the set; derived from the input when the data has none,
- `input`: the prompt, a string or a list of message dicts (``{"role": .., "content": ..}``),
- `expected`: the reference answer (any JSON value), or None,
- `system`: a system prompt for this item, or None,

followed by every other column of the data, kept as metadata (`category`, `scorer`, ...).

Pure reading: nothing here sends data anywhere or writes a file. pandas is imported on
first use, so importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ITEM_COLUMNS", "MAX_FILE_BYTES", "derive_id", "load", "names", "read_items"]

ITEM_COLUMNS: tuple[str, ...] = ("id", "input", "expected", "system")
"""The columns every item frame starts with, in order; metadata columns follow."""

MAX_FILE_BYTES = 100 * 1024 * 1024
"""Files larger than this (100 MiB) are refused by `read_items` unless `max_bytes` is raised."""

_PACKAGE = __name__.rpartition(".")[0]  # closedpaw_nb.evals
_DATA = "data"  # package folder holding the shipped sets, one <name>.jsonl each
_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json", ".parquet")
_INPUT_ALIASES = ("prompt", "question", "text", "query", "messages")
_SHOWN = 10  # ids or rows quoted in an error message before "and N more"


def names() -> list[str]:
    """Names of the question sets shipped with closedpaw_nb, sorted (e.g. ``["basic"]``)."""
    folder = resources.files(_PACKAGE).joinpath(_DATA)
    return sorted(p.name.removesuffix(".jsonl") for p in folder.iterdir() if p.name.endswith(".jsonl"))


def load(name: str = "basic") -> pd.DataFrame:
    """A question set shipped with closedpaw_nb, as an item frame (see the module docstring).

    "basic" holds 60 short questions the project wrote: arithmetic, unit conversions,
    capitals, facts, multiple choice (`expected` is the letter) and JSON output (`expected`
    is the JSON value). Its metadata columns are `category` and `scorer` (the scorer that
    suits the item: exact_match, numeric, choice or json_valid).

    "open" holds 15 open-ended prompts the project wrote, for pairwise comparison rather than
    scoring ("Explain what a Python KeyError means to a beginner.", "Summarise this support
    ticket in one sentence: ...", "Suggest a name for a coffee shop run by librarians."): ids
    ``open-01`` to ``open-15``, no `expected` (None), and the metadata columns `category`
    ("open"), `reference` (a good answer, 1-3 sentences) and `poor` (a plausible but poor one:
    vague, off-topic or unhelpful). The simulator answers them with one or the other and judges
    pairs of answers to them (``closedpaw_nb.sim.answers``).

    Raises:
        ConfigError: For an unknown name; the message lists the available ones.
    """
    available = names()
    if name not in available:
        raise ConfigError(f"no shipped question set named {name!r}; available: {', '.join(available)}")
    text = resources.files(_PACKAGE).joinpath(_DATA, f"{name}.jsonl").read_text("utf-8")
    return read_items(_parse_jsonl(text, f"{name}.jsonl"))


def derive_id(input: str | list[dict[str, Any]]) -> str:
    """A stable id for an item without one: ``"item-"`` + the first 16 hex digits of the
    SHA-256 of the input (a string as UTF-8; a message list as canonical JSON with sorted
    keys). The same input always gets the same id, in any session or process."""
    text = input if isinstance(input, str) else json.dumps(input, sort_keys=True, ensure_ascii=False, default=str)
    return "item-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_items(data: Any, *, max_bytes: int = MAX_FILE_BYTES) -> pd.DataFrame:
    """Normalise your own evaluation data into an item frame (see the module docstring).

    Args:
        data: One of
            - a list of strings (each is an input),
            - a list of dicts with an ``input`` key (strings and dicts may mix),
            - a DataFrame with an ``input`` column (not modified),
            - a path (str or Path) to a ``.csv``, ``.jsonl``/``.ndjson``, ``.json`` (an
              array of objects) or ``.parquet`` file. CSV cells are read as text, with no
              type guessing ("007" and "NA" stay as written), and empty cells are missing;
              a message list inside a CSV cell stays a string.
        max_bytes: Refuse files larger than this many bytes.

    Returns:
        A new frame: `id` (str), `input`, `expected`, `system` (None where absent), then
        every other column in its original order, with a fresh RangeIndex. Ids given in the
        data are kept (as strings); missing ones come from `derive_id`.

    Raises:
        ConfigError: If there is no ``input`` column, an input is missing or neither a
            string nor a list of message dicts, a `system` is not a string, ids repeat,
            the set is empty, or the file is missing, too large, unreadable or of an
            unsupported type. The message names what it found and what is missing.
    """
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        frame = data.copy()
    elif isinstance(data, str | PathLike):
        frame = _read_file(Path(data), max_bytes)
    elif isinstance(data, Mapping | bytes) or not isinstance(data, Iterable):
        raise ConfigError(
            "items must be a list of strings, a list of dicts, a DataFrame or a path to a CSV, JSONL or "
            f"Parquet file, not {type(data).__name__}"
        )
    else:
        frame = _records_frame(list(data))
    return _normalise(frame)


def _records_frame(records: list[Any]) -> pd.DataFrame:
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        if isinstance(record, str):
            rows.append({"input": record})
        elif isinstance(record, Mapping):
            rows.append({str(k): v for k, v in record.items()})
        else:
            raise ConfigError(f"item {i} is a {type(record).__name__}; give each item as a string or a dict")
    if not rows:
        return pd.DataFrame()
    # object columns keep each value as given (an int id or answer next to a missing one
    # would otherwise turn into a float); metadata columns then get their natural dtypes
    frame = pd.DataFrame(rows, dtype=object)
    meta = [c for c in frame.columns if c not in ITEM_COLUMNS]
    frame[meta] = frame[meta].infer_objects()
    return frame


def _read_file(path: Path, max_bytes: int) -> pd.DataFrame:
    import pandas as pd

    suffix = path.suffix.lower()
    if not path.is_file():
        hint = "" if suffix in _SUFFIXES else "; to evaluate strings, pass them in a list: read_items([...])"
        raise ConfigError(f"no such file: {str(path)[:120]!r}{hint}")
    if suffix not in _SUFFIXES:
        raise ConfigError(f"cannot read {path.name!r}: supported file types are {', '.join(_SUFFIXES)}")
    size = path.stat().st_size
    if size > max_bytes:
        raise ConfigError(
            f"{path.name} is {_size(size)}, over the {_size(max_bytes)} limit for evaluation "
            "items; use a sample of it, or pass max_bytes= to read it anyway"
        )
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        if suffix == ".parquet":
            return pd.read_parquet(path)
        text = path.read_text(encoding="utf-8")
        if suffix == ".json":
            records = json.loads(text)
            if not isinstance(records, list):
                raise ConfigError(f"{path.name} must hold a JSON array of objects, not a {type(records).__name__}")
            return _records_frame(records)
        return _records_frame(_parse_jsonl(text, path.name))
    except ImportError as e:
        raise ConfigError(f"reading {path.name} needs pyarrow: pip install 'closedpaw_nb[parquet]' ({e})") from None
    except ConfigError:
        raise
    except (ValueError, OSError) as e:  # also JSON, CSV and Parquet parse errors
        raise ConfigError(f"cannot read {path.name}: {type(e).__name__}: {e}") from None


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


def _parse_jsonl(text: str, source: str) -> list[Any]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ConfigError(f"{source} line {number} is not valid JSON: {e.msg}") from None
    return records


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    found = [str(c) for c in frame.columns]
    frame.columns = pd.Index(found)
    if len(set(found)) != len(found):
        raise ConfigError(f"items have repeated column names: {found}")
    if "input" not in frame.columns:
        hint = next((f"; rename {c!r} to 'input'?" for c in _INPUT_ALIASES if c in frame.columns), "")
        raise ConfigError(
            f"items need an 'input' column (the prompt: a string or a list of message dicts); found columns: "
            f"{found or 'none'}{hint}"
        )
    if frame.empty:
        raise ConfigError(f"found no items (columns: {found})")
    inputs = [_input(v, row) for row, v in enumerate(frame["input"])]
    systems = [_system(v, row) for row, v in enumerate(frame["system"])] if "system" in frame else [None] * len(inputs)
    expected = [None if _missing(v) else v for v in frame["expected"]] if "expected" in frame else [None] * len(inputs)
    given = frame["id"] if "id" in frame else [None] * len(inputs)
    ids = [derive_id(inp) if _missing(i) or i == "" else _id_text(i) for i, inp in zip(given, inputs, strict=True)]
    _check_unique(ids, derived="id" not in frame)
    head = pd.DataFrame(
        {
            "id": pd.Series(ids, dtype=object),
            "input": pd.Series(inputs, dtype=object),
            "expected": pd.Series(expected, dtype=object),
            "system": pd.Series(systems, dtype=object),
        }
    )
    rest = frame.drop(columns=[c for c in ITEM_COLUMNS if c in frame.columns]).reset_index(drop=True)
    return pd.concat([head, rest], axis=1)


def _input(value: Any, row: int) -> str | list[dict[str, Any]]:
    if isinstance(value, str):
        return value
    if hasattr(value, "tolist"):
        value = value.tolist()  # a list column read from Parquet arrives as a numpy array
    if isinstance(value, list) and value and all(_is_message(m) for m in value):
        return [dict(m) for m in value]
    if _missing(value):
        raise ConfigError(f"item at row {row} has no input")
    raise ConfigError(
        f"item at row {row}: input must be a string or a non-empty list of message dicts with 'role' and "
        f"'content', not {type(value).__name__}"
    )


def _id_text(value: Any) -> str:
    # 7.0 from a float column (ints upcast next to a missing id) reads as "7", not "7.0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_message(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("role"), str) and "content" in value


def _system(value: Any, row: int) -> str | None:
    if _missing(value):
        return None
    if not isinstance(value, str):
        raise ConfigError(f"item at row {row}: system must be a string, not {type(value).__name__}")
    return value


def _check_unique(ids: list[str], derived: bool) -> None:
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        shown = ", ".join(repr(i) for i in repeated[:_SHOWN])
        more = f" and {len(repeated) - _SHOWN} more" if len(repeated) > _SHOWN else ""
        why = " (derived from identical inputs: remove the repeats or give the items an 'id' column)" if derived else ""
        raise ConfigError(f"item ids must be unique; repeated: {shown}{more}{why}")


def _missing(value: Any) -> bool:
    """None, NaN, pd.NA or NaT (never true for a string, list or dict)."""
    import pandas as pd

    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))
