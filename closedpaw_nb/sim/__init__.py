"""A protocol-faithful LLM API simulator: one ASGI app speaking five providers' wire formats.

Mounts ``/openai/v1`` (also the OpenAI-compatible "custom" endpoint), ``/anthropic/v1``,
``/google/v1beta``, ``/mistral/v1`` and ``/ollama`` (plus ``/ollama/v1``). Answers are
deterministic filler text derived from (model, last user prompt, seed, temperature), paced by
each model's :class:`LatencyProfile`, with exact usage counts. Every response carries the header
``x-closedpaw-simulated: 1`` and listed models say "simulated". Keys starting with ``invalid``
(or no key) get each provider's real auth error; model names starting with ``missing`` get its
real 404. :class:`Fault` scripts errors, hangs, resets, cut or broken streams and more.

A prompt that is an item of the shipped question set (``closedpaw_nb.datasets.load("basic")``)
gets that item's answer instead of filler, right with the model's documented accuracy
(:data:`ACCURACY`: sim-large 0.9, sim-small 0.6) as a stable hash decides per (model, item)
(:func:`expected_correct`); an open-ended item (``load("open")``) gets its reference answer
by the same rule, else its poor one. A grading prompt gets a deterministic ``GRADE: C`` /
``GRADE: I`` verdict, and a pairwise prompt (two answers to one question) a ``VERDICT: A`` /
``B`` / ``TIE`` / ``BOTH_BAD`` from the answers' known quality, with a position bias set by
``Simulator(judge_position_bias=...)``. ``closedpaw_nb.sim.answers`` documents the rules and
formats (``JUDGE_TEMPLATE``, ``PAIRWISE_TEMPLATE``).

Structured output, tools and images (``closedpaw_nb.sim.structured``): a request with a JSON
schema (or JSON mode) gets deterministic JSON that validates, except for a stable share of
near misses (``Simulator(near_miss_rate=0.1)``: a required field missing, a wrong type, an
extra property); a request with tools calls one when the choice forces it or the prompt names
it (``decide_tool_call``), in each API's own shape, streamed and not; after tool results it
answers in text quoting them. Image parts are accepted and counted ("I see 2 images.").

Example:
    >>> from closedpaw_nb.sim import Fault, serve_in_thread  # doctest: +SKIP
    >>> with serve_in_thread() as sim:  # doctest: +SKIP
    ...     sim.simulator.add_fault(Fault("status", provider="openai", status=429,
    ...                                   headers={"retry-after": "1"}))
    ...     client = openai.OpenAI(base_url=sim.base_url("openai"), api_key="sk-test")
    ...     client.chat.completions.create(model="sim-small", messages=[...])  # 429, retried, 200

Importing this package imports starlette and uvicorn; ``import closedpaw_nb`` does not.
"""

from __future__ import annotations

from ._app import DEFAULT_PROFILES, RecordedRequest, Simulator, create_app
from ._faults import Fault, FaultKind
from ._server import SimServer, main, serve_in_thread, start_server
from ._text import LatencyProfile
from .answers import ACCURACY, expected_correct

__all__ = [
    "ACCURACY",
    "DEFAULT_PROFILES",
    "Fault",
    "FaultKind",
    "LatencyProfile",
    "RecordedRequest",
    "SimServer",
    "Simulator",
    "create_app",
    "expected_correct",
    "main",
    "serve_in_thread",
    "start_server",
]
