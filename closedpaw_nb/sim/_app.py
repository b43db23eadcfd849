"""The simulator: state (profiles, faults, recorded requests) and the Starlette app.

Every request takes the same path: record it, take a matching fault, then (unless the fault
replaces the response) check auth, answer ``missing...`` models with a 404, run the protocol's
handler and, for chat, generate deterministic text and write it at the model's pace. The text
answers an item of the shipped question set or open-ended set, grades a judge prompt, or
judges a pair of answers, when the last user message is one (see ``answers``); otherwise it is
filler.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route

from ._asgi import Receive, Send
from ._faults import Fault, FaultQueue, fault_reply
from ._protocol import Call, ParsedChat, Reply, RouteSpec, WireProtocol
from ._respond import FaultResponse, GenerationResponse, ReplyResponse, add_headers
from ._text import Generation, LatencyProfile, Pacer, generate, generate_text
from .answers import ACCURACY, expected_correct, respond
from .anthropic import AnthropicProtocol
from .google import GoogleProtocol
from .mistral import MistralProtocol
from .ollama import OllamaProtocol
from .openai import OpenAIProtocol
from .pairwise import truth
from .structured import decide_tool_call, schema_answer, tool_call_id

__all__ = ["DEFAULT_PROFILES", "RecordedRequest", "Simulator", "create_app"]

#: The models every provider lists, and how they behave (read-only; pass ``profiles=`` to change).
DEFAULT_PROFILES: Mapping[str, LatencyProfile] = MappingProxyType(
    {
        "sim-small": LatencyProfile(ttft_ms=30.0, tokens_per_s=400.0, output_tokens=24),
        "sim-large": LatencyProfile(ttft_ms=80.0, tokens_per_s=150.0, output_tokens=48),
    }
)
SIMULATED_HEADER = "x-closedpaw-simulated"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator received it.

    Attributes:
        provider: Mount name (``openai``, ``anthropic``, ``google``, ``mistral``, ``ollama``).
        method: HTTP method.
        path: Full path, including the mount (e.g. ``/anthropic/v1/messages``).
        query: Raw query string.
        headers: Lower-cased header names to values (keys included: this is a test double).
        json: Parsed JSON body, or None.
        time: ``time.perf_counter()`` at arrival.
    """

    provider: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    json: Any
    time: float

    @property
    def key_in_query(self) -> bool:
        """True when an API key travelled in the URL (``?key=``), which our client must never do."""
        return "key" in parse_qs(self.query)


class Simulator:
    """State shared by the app's requests: model profiles, timing, faults and the request log.

    Args:
        profiles: Extra or replacement models (merged over ``sim-small`` and ``sim-large``);
            every provider lists all of them.
        time_scale: Multiplies every wait; 0 disables waiting entirely (fast tests).
        ollama_requires_key: Make ``/ollama`` demand a Bearer key (401 ``unauthorized``).
        default_profile: Profile of unlisted model names, served with ``any_model=True``
            (default: that of ``sim-small``).
        max_recorded: How many requests ``requests`` keeps (oldest dropped first); None keeps all.
        accuracy: Extra or replacement accuracies on the shipped question set, merged over
            ``answers.ACCURACY`` (``sim-large`` 0.9, ``sim-small`` 0.6); unlisted models have
            ``answers.DEFAULT_ACCURACY``. Each must be in [0, 1]. The open-ended set uses the same.
        judge_position_bias: Share of pairwise judging prompts, in [0, 1], that the judge
            answers ``VERDICT: A`` whatever the answers (a judge that prefers the first
            position); a stable hash of the prompt picks them (``answers``, "Pairwise judge").
        any_model: Answer any model name. By default a model the simulator does not list
            (``profiles``; an Ollama ``:tag`` is ignored) gets the API's own 404, as a typo in
            a real model name would, so the model list is the source of valid names.
        near_miss_rate: Share of structured-output answers, in [0, 1], that are near misses
            of the schema (a required field missing, a wrong type, an extra property), as real
            models sometimes write; a stable hash of (model, prompt, seed) picks them
            (``closedpaw_nb.sim.structured``). 0 makes every answer valid. A mapping gives a
            rate per model (``{"sim-large": 0.05, "sim-small": 0.25}``; unlisted models: 0.1),
            so schema compliance differs between models as it does between real ones.
    """

    def __init__(
        self,
        profiles: Mapping[str, LatencyProfile] | None = None,
        time_scale: float = 1.0,
        ollama_requires_key: bool = False,
        default_profile: LatencyProfile | None = None,
        max_recorded: int | None = 10_000,
        accuracy: Mapping[str, float] | None = None,
        judge_position_bias: float = 0.0,
        any_model: bool = False,
        near_miss_rate: float | Mapping[str, float] = 0.1,
    ) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.judge_position_bias = _check_rate("judge_position_bias", judge_position_bias, _BIAS_MEANING)
        rates = dict(near_miss_rate) if isinstance(near_miss_rate, Mapping) else {}
        single = 0.1 if isinstance(near_miss_rate, Mapping) else near_miss_rate
        self.near_miss_rate = _check_rate("near_miss_rate", single, _NEAR_MISS_MEANING)
        self.near_miss_rates = {m: _check_rate("near_miss_rate", r, _NEAR_MISS_MEANING) for m, r in rates.items()}
        for model, value in (accuracy or {}).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"the accuracy of {model!r} must be in [0, 1], got {value!r}")
        self.accuracy: dict[str, float] = {**ACCURACY, **(accuracy or {})}
        self.profiles: dict[str, LatencyProfile] = {**DEFAULT_PROFILES, **(profiles or {})}
        self.default_profile = default_profile or DEFAULT_PROFILES["sim-small"]
        self.time_scale = time_scale
        self.ollama_requires_key = ollama_requires_key
        self.any_model = any_model
        self.max_recorded = max_recorded
        self.requests: list[RecordedRequest] = []
        self._faults = FaultQueue()
        # Set while a server is stopping, so that hanging requests end.
        self._closing = threading.Event()

    def knows(self, model: str) -> bool:
        """Whether ``model`` is one the simulator lists (an Ollama tag such as ``sim-small:latest``
        counts as its model), or any model at all with ``any_model=True``."""
        return self.any_model or model in self.profiles or model.split(":")[0] in self.profiles

    def add_fault(self, fault: Fault) -> Fault:
        """Queue ``fault`` (after any already queued) and return it."""
        self._faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """Pending faults, in the order they will be tried."""
        return self._faults.pending()

    def reset(self) -> None:
        """Clear faults and recorded requests."""
        self.clear_faults()
        self.requests.clear()

    def requests_for(self, provider: str) -> list[RecordedRequest]:
        """Recorded requests of one mount."""
        return [r for r in self.requests if r.provider == provider]

    def profile_for(self, model: str) -> LatencyProfile:
        """The latency profile of ``model`` (``name:tag`` falls back to ``name``)."""
        return self.profiles.get(model) or self.profiles.get(model.split(":")[0]) or self.default_profile

    def expected_correct(self, model: str, item_id: str) -> bool:
        """Whether this simulator answers question-set item ``item_id`` correctly as ``model``."""
        return expected_correct(model, item_id, self.accuracy)

    def pairwise_truth(self, question: str, answer_a: str, answer_b: str) -> str:
        """The pairwise judge's verdict without position bias: ``"A"``, ``"B"``, ``"TIE"`` (both
        good) or ``"BOTH_BAD"``, from each answer's known quality (``answers``, "Pairwise judge")."""
        return truth(question, answer_a, answer_b)

    def generate(self, req: ParsedChat) -> Generation:
        """Deterministic answer for ``req``: a tool call (``structured.decide_tool_call``), JSON for
        a schema or JSON mode (``structured.schema_answer``), text quoting tool results, a
        question-set or open answer, a judge's verdict, or filler (which says how many images
        it was shown)."""
        call = decide_tool_call(req)
        if call is not None:
            name, arguments = call
            call_id = tool_call_id(f"{req.model}\x00{req.prompt}\x00{name}")
            return Generation((), "tool_calls", None, req.prompt_tokens, ((call_id, name, arguments),))
        fixed = respond(req.model, req.prompt, self.accuracy, position_bias=self.judge_position_bias)
        if req.schema is not None or req.json_mode:
            seed = f"{req.model}\x00{req.prompt}\x00{req.seed}"
            rate = self.near_miss_rates.get(req.model, self.near_miss_rate)
            fixed = schema_answer(req.schema, seed=seed, near_miss_rate=rate, answer=fixed)
        elif req.tool_results:
            fixed = "The tool returned: " + "; ".join(r.strip() for r in req.tool_results) + "."
        if fixed is not None:
            return generate_text(fixed, prompt_tokens=req.prompt_tokens, max_tokens=req.max_tokens, stop=req.stop)
        return generate(
            model=req.model,
            prompt=req.prompt,
            prompt_tokens=req.prompt_tokens,
            profile=self.profile_for(req.model),
            seed=req.seed,
            temperature=req.temperature,
            max_tokens=req.max_tokens,
            stop=req.stop,
            preface=f"I see {req.images} image{'s' if req.images > 1 else ''}." if req.images else "",
        )

    def take_fault(self, call: Call) -> Fault | None:
        """The fault that applies to ``call``, if any (used by the app)."""
        return self._faults.take(call)

    def record(self, request: RecordedRequest) -> None:
        """Append to ``requests``, dropping the oldest beyond ``max_recorded`` (used by the app)."""
        self.requests.append(request)
        if self.max_recorded is not None and len(self.requests) > self.max_recorded:
            del self.requests[: len(self.requests) - self.max_recorded]


_BIAS_MEANING = "the share of pairwise prompts judged 'A' whatever the answers"
_NEAR_MISS_MEANING = "the share of structured answers that miss the schema"


def _check_rate(name: str, value: float, meaning: str) -> float:
    # bool is an int, and NaN fails every comparison: both are refused with the same message.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1] ({meaning}), got {value!r}")
    return float(value)


# -- request flow ---------------------------------------------------------------------


async def _make_call(request: Request, proto: WireProtocol, spec: RouteSpec, sim: Simulator) -> Call | Reply:
    started = time.perf_counter()
    raw = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    call = Call(
        provider=proto.name,
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        params=dict(parse_qsl(request.url.query, keep_blank_values=True)),
        path_params={k: str(v) for k, v in request.path_params.items()},
        headers=headers,
        body=None,
        started=started,
        catalog=tuple(sim.profiles),
        requires_key=spec.auth and (proto.name != "ollama" or sim.ollama_requires_key),
        endpoint=spec.endpoint,
    )
    bad_json = False
    if raw:
        try:
            call.body = json.loads(raw)
        except ValueError:
            bad_json = True
    proto.inspect(call)
    sim.record(RecordedRequest(call.provider, call.method, call.path, call.query, headers, call.body, started))
    return proto.error(call, 400, "Could not parse the request body as JSON.") if bad_json else call


def _endpoint(proto: WireProtocol, spec: RouteSpec, sim_of: Callable[[Request], Simulator]) -> Callable[..., Any]:
    async def handle(request: Request) -> Any:
        sim: Simulator = sim_of(request)
        made = await _make_call(request, proto, spec, sim)
        if isinstance(made, Reply):
            return ReplyResponse(made, None)
        call = made
        fault = sim.take_fault(call)
        if fault is not None and fault.replaces_response:
            silent = fault.kind in ("hang", "reset")
            reply = None if silent else add_headers(fault_reply(fault, call, proto), call, proto, fault)
            return FaultResponse(fault, reply, sim._closing)
        outcome = _answer(call, proto, spec, sim)
        if isinstance(outcome, Reply):
            return ReplyResponse(add_headers(outcome, call, proto, fault), fault)
        profile = sim.profile_for(outcome.model)
        call.pace = (sim.time_scale * profile.ttft_ms / 1000.0, sim.time_scale / profile.tokens_per_s)
        pacer = Pacer(profile, sim.time_scale, call.started)
        return GenerationResponse(proto, call, outcome, sim.generate(outcome), pacer, fault)

    return handle


def _answer(call: Call, proto: WireProtocol, spec: RouteSpec, sim: Simulator) -> Reply | ParsedChat:
    if call.requires_key:
        denied = proto.authenticate(call)
        if denied is not None:
            return denied
    model = call.model
    if model and (model.startswith("missing") or not sim.knows(model)) and call.endpoint != "meta":
        return proto.not_found(call, model)  # each API's own 404, as for a typo in a real model name
    return spec.handler(call)  # type: ignore[no-any-return]


# -- app ------------------------------------------------------------------------------


def _mount(prefix: str, proto: WireProtocol, sim_of: Callable[[Request], Simulator]) -> list[BaseRoute]:
    specs = proto.routes()
    routes: list[BaseRoute] = [Route(s.path, _endpoint(proto, s, sim_of), methods=list(s.methods)) for s in specs]
    # The mount root without its trailing slash (e.g. Ollama's "GET /" health probe).
    exact: list[BaseRoute] = [
        Route(prefix, _endpoint(proto, s, sim_of), methods=list(s.methods)) for s in specs if s.path == "/"
    ]
    return [*exact, Mount(prefix, routes=routes)]


class _SimulatedHeader:
    """Marks every response, including 404s for unknown paths, as simulated."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        async def marked(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (SIMULATED_HEADER.encode(), b"1")]
            await send(message)

        await self.app(scope, receive, marked if scope["type"] == "http" else send)


def create_app(simulator: Simulator | None = None) -> Starlette:
    """Build the ASGI app speaking all five wire protocols.

    Mounts: ``/openai/v1`` (also the OpenAI-compatible "custom" endpoint), ``/anthropic/v1``,
    ``/google/v1beta`` (and ``/google/v1``), ``/mistral/v1``, ``/ollama`` (native) and
    ``/ollama/v1`` (Ollama's OpenAI-compatible API, keyless like Ollama's).

    Args:
        simulator: Shared state; a fresh ``Simulator()`` when omitted. Reachable later as
            ``app.state.simulator``.

    Returns:
        A Starlette application.
    """

    def sim_of(request: Request) -> Simulator:
        simulator: Simulator = request.app.state.simulator
        return simulator

    ollama_compat = OpenAIProtocol()
    ollama_compat.name = "ollama"  # type: ignore[misc]  # same wire, Ollama's mount and auth
    app = Starlette(
        routes=[
            *_mount("/openai/v1", OpenAIProtocol(), sim_of),
            *_mount("/anthropic/v1", AnthropicProtocol(), sim_of),
            *_mount("/google", GoogleProtocol(), sim_of),
            *_mount("/mistral/v1", MistralProtocol(), sim_of),
            *_mount("/ollama/v1", ollama_compat, sim_of),
            *_mount("/ollama", OllamaProtocol(), sim_of),
        ]
    )
    app.state.simulator = simulator or Simulator()
    app.add_middleware(_SimulatedHeader)
    return app
