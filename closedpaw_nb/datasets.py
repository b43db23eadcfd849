"""Question sets shipped with closedpaw_nb, ready to evaluate.

```python
from closedpaw_nb import datasets
datasets.names()              # ['basic', 'open']
items = datasets.load("basic")  # DataFrame: id, input, expected, system, category, scorer
items = datasets.load("open")   # 15 open-ended prompts for the arena: id, input, category, reference, poor
```

The implementation lives in `closedpaw_nb.evals.datasets`, which also turns your own data
(lists, DataFrames, CSV / JSONL / Parquet files) into items with `read_items`.
"""

from __future__ import annotations

from .evals.datasets import load, names

__all__ = ["load", "names"]
