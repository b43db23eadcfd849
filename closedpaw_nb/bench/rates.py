"""Decode rate and inter-token latency of one call: pure arithmetic, no pandas.

The benchmark runner computes them for every row it writes, so this stays a plain-float
module it can import at no cost; `frames.add_derived` is the same definition over a whole
DataFrame (tests hold the two to the same answers).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["derive_timing"]


def derive_timing(ttft_ms: float | None, latency_ms: float | None, completion_tokens: int | None) -> dict[str, float]:
    """Decode rate and inter-token latency of one call, from usage token counts.

    N is the provider's usage `completion_tokens`, never a count of stream chunks (one
    chunk may carry several tokens). With D = latency_ms - ttft_ms:

    - streamed (ttft known): tokens_per_s = (N - 1) / (D / 1000), the decode rate after
      the first token; itl_ms = D / (N - 1). Both NaN when N <= 1 or D <= 0.
    - not streamed (ttft NaN): tokens_per_s = N / (latency_ms / 1000), over the whole
      call; itl_ms NaN (there is no first-token time to split on).

    Any unknown input (None/NaN/NA) gives NaN.

    Returns:
        ``{"tokens_per_s": float, "itl_ms": float}``.
    """
    ttft, latency, tokens = _number(ttft_ms), _number(latency_ms), _number(completion_tokens)
    decode_ms = latency - ttft
    if math.isnan(ttft):
        if latency > 0 and tokens >= 0:
            return {"tokens_per_s": tokens / (latency / 1000.0), "itl_ms": math.nan}
    elif tokens > 1 and decode_ms > 0:
        return {"tokens_per_s": (tokens - 1) / (decode_ms / 1000.0), "itl_ms": decode_ms / (tokens - 1)}
    return {"tokens_per_s": math.nan, "itl_ms": math.nan}


def _number(value: Any) -> float:
    """`value` as a float; None, and what is not a number (pandas' NA and NaT), as NaN."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
