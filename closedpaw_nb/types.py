"""Plain data types shared by every layer: no I/O, no httpx, no pandas.

`ProviderType`, `ChatMessage` and `ChatResponse` keep the names and fields of the
ClosedPaw seed (new fields are appended, so positional use still works); the rest
(`Usage`, `ModelInfo`, `HealthStatus`) are the small records the gateway passes around.
Message parts live in `content`, tool calls in `tools.call`: both plain, like this module.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .content import ImagePart, Part, TextPart, as_parts
from .tools.call import ToolCall

__all__ = [
    "ChatMessage",
    "ChatResponse",
    "HealthState",
    "HealthStatus",
    "ModelInfo",
    "ProviderType",
    "Usage",
]


class ProviderType(str, enum.Enum):  # noqa: UP042 - the seed's (str, Enum): equal to its value, same pickles
    """The kinds of provider the gateway knows how to speak to."""

    OLLAMA = "ollama"
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GOOGLE = "google"
    MISTRAL = "mistral"
    CUSTOM = "custom"

    def __str__(self) -> str:
        return self.value


ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True, init=False)
class ChatMessage:
    """One turn of a conversation.

    `ChatMessage("user", "hi")` is the seed's form, and a plain string stays the common
    case. A list of parts carries images too: `ChatMessage("user", ["What is this?",
    image("chart.png")])` (str items become `TextPart`s; OpenAI-style part dicts are
    accepted). Tool calling adds two shapes: an assistant turn with `tool_calls` (the
    model's calls, sent back as they came) and a `role="tool"` turn with the result of
    one call, linked by `tool_call_id`.

    Attributes:
        role: "system", "user", "assistant" or "tool".
        content: The text of the turn, or a list of `TextPart`/`ImagePart`.
        tool_call_id: For role "tool": the id of the call this is the result of.
        name: For role "tool": the tool's name (some APIs want it).
        tool_calls: For role "assistant": the calls the model made in this turn.
    """

    role: str
    content: str | list[Part]
    tool_call_id: str | None = None
    name: str | None = None
    tool_calls: Sequence[ToolCall] = ()

    def __init__(
        self,
        role: str,
        content: str | Iterable[Any],
        tool_call_id: str | None = None,
        name: str | None = None,
        tool_calls: Sequence[ToolCall | Mapping[str, Any]] = (),
    ) -> None:
        # Written out rather than generated: a frozen dataclass's __init__ sets each field
        # through object.__setattr__, which made a message cost 1.4 us here against 0.6 us
        # like this; every call builds its messages anew (a sweep: one per row).
        if role not in ROLES:
            raise ValueError(f"ChatMessage.role must be one of {ROLES}, got {role!r}")
        if type(content) is not str and not isinstance(content, str):
            if isinstance(content, (bytes, Mapping)) or not isinstance(content, Iterable):
                raise TypeError("ChatMessage.content must be a str or a list of parts (TextPart, ImagePart)")
            content = as_parts(content)
        if role == "tool" and not tool_call_id:
            raise ValueError('a ChatMessage with role="tool" needs the tool_call_id of the call it answers')
        if tool_calls:
            if role != "assistant":
                raise ValueError("only an assistant ChatMessage carries tool_calls")
            tool_calls = tuple(_as_tool_call(c) for c in tool_calls)
        fields = self.__dict__  # (frozen: the fields are set once, here)
        fields["role"] = role
        fields["content"] = content
        fields["tool_call_id"] = tool_call_id
        fields["name"] = name
        fields["tool_calls"] = tool_calls

    def __hash__(self) -> int:
        content = self.content if isinstance(self.content, str) else tuple(self.content)
        return hash((self.role, content, self.tool_call_id, self.name, tuple(c.id for c in self.tool_calls)))

    def __repr__(self) -> str:
        # The seed's short form; the tool fields only when set.
        extra = "".join(
            f", {name}={value!r}"
            for name in ("tool_call_id", "name", "tool_calls")
            if (value := getattr(self, name)) not in (None, ())
        )
        return f"ChatMessage(role={self.role!r}, content={self.content!r}{extra})"

    @property
    def text(self) -> str:
        """The text: the string itself, or the text parts joined with newlines."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> list[ImagePart]:
        """The image parts (none for a string)."""
        return [] if isinstance(self.content, str) else [p for p in self.content if isinstance(p, ImagePart)]

    def to_dict(self) -> dict[str, Any]:
        """`{"role": ..., "content": ...}` (the seed's wire-neutral form), with the content as
        OpenAI-style part dicts when it has parts, and the tool fields only when set."""
        content = self.content if isinstance(self.content, str) else [p.to_dict() for p in self.content]
        row: dict[str, Any] = {"role": self.role, "content": content}
        if self.tool_call_id is not None:
            row["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            row["name"] = self.name
        if self.tool_calls:
            row["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        return row


def _as_tool_call(value: Any) -> ToolCall:
    if isinstance(value, ToolCall):
        return value
    if isinstance(value, Mapping):
        return ToolCall.from_dict(value)
    raise TypeError(f"tool_calls must hold ToolCall objects (or their dicts), got {type(value).__name__}")


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reported them (never counted from chunks)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


@dataclass
class ChatResponse:
    """The result of one chat call, the same whether it was streamed or not.

    The first six fields are the seed's; the rest carry what a benchmark needs.

    Attributes:
        content: The assistant's text.
        model: The model that answered (as the provider names it).
        provider: The registered provider name.
        tokens_used: prompt + completion tokens, from the provider's usage fields.
        finish_reason: Normalised to "stop", "length", "content_filter", "tool_calls"
            or "other"; the provider's raw value is in `provider_details`.
        latency_ms: Time from sending the request to the last byte.
        prompt_tokens: Input tokens reported by the provider.
        completion_tokens: Output tokens reported by the provider.
        ttft_ms: Time to the first non-empty content delta (streamed calls only).
        attempts: How many HTTP attempts the call took (1 without retries).
        request_id: The provider's request id, when it sends one.
        provider_details: Provider-specific extras (raw finish reason, timings...).
        parsed: With `response_format=`: the decoded answer, valid against the schema
            (a model instance when a pydantic model class was given); else None.
        parse_error: Why `parsed` is None although a format was asked for (not JSON,
            not valid against the schema, a refusal). Bad model output is never raised.
        refusal: The model's refusal, when the API reports one as such.
        tool_calls: The calls the model asked for (`finish_reason` "tool_calls").
        usage_source: Where the token counts came from: "reported" (the provider's
            usage fields, the default), "tokenized" (counted afterwards with the
            server's own tokenizer endpoint) or "missing" (the server sent none and
            nothing counted them: the counts are None, never estimated).
    """

    content: str
    model: str
    provider: str
    tokens_used: int | None = None
    finish_reason: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    attempts: int = 1
    request_id: str | None = None
    provider_details: dict[str, Any] = field(default_factory=dict)
    parsed: Any = None
    parse_error: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage_source: str = "reported"

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (for DataFrames and JSON): tool calls as dicts, and
        `parsed` as JSON-able data (a pydantic instance through `model_dump`)."""
        row = asdict(replace(self, parsed=None, tool_calls=[]))
        row["parsed"] = _jsonable(self.parsed)
        row["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        return row


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


class ModelInfo(str):
    """One model a provider offers: a `str` whose value is the model id, with details beside it.

    The seed's contract is `list_models() -> List[str]`. A ModelInfo *is* that string
    (it compares, hashes, sorts, joins, prints and serialises to JSON as the bare id),
    so code written against the seed works on the built-ins' lists, while code that
    wants more reads `.provider`, `.display_name`, `.context_length` and `.details`.
    `ModelInfo.of(value, provider)` turns a plain string from a custom provider's
    `list_models()` into one.

    Attributes:
        id: The model id (the string's own value).
        provider: The registered provider name.
        display_name: A human-readable name, when the API gives one.
        context_length: Input token limit, when the API gives one.
        details: Anything else the API said about the model.
    """

    provider: str
    display_name: str | None
    context_length: int | None
    details: dict[str, Any]

    def __new__(
        cls,
        id: str,
        provider: str = "",
        display_name: str | None = None,  # noqa: A002 - the seed's field name
        context_length: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> ModelInfo:
        if not isinstance(id, str) or not id:
            raise ValueError(f"a model id must be a non-empty str, got {id!r}")
        self = super().__new__(cls, id)
        self.provider = provider
        self.display_name = display_name
        self.context_length = context_length
        self.details = dict(details or {})
        return self

    @property
    def id(self) -> str:
        return str.__str__(self)

    @classmethod
    def of(cls, value: str, provider: str) -> ModelInfo:
        """`value` as a ModelInfo of `provider` (a ModelInfo is returned as it is)."""
        if isinstance(value, ModelInfo):
            return value
        return cls(value, provider)

    def to_dict(self) -> dict[str, Any]:
        """The model's fields as a plain dict."""
        return {
            "id": self.id,
            "provider": self.provider,
            "display_name": self.display_name,
            "context_length": self.context_length,
            "details": dict(self.details),
        }

    def __reduce__(self) -> tuple[Any, ...]:
        return (ModelInfo, (self.id, self.provider, self.display_name, self.context_length, self.details))


class HealthState(str, enum.Enum):  # noqa: UP042 - a str equal to its value, like ProviderType
    """Outcome of an unbilled health probe."""

    OK = "ok"
    AUTH_FAILED = "auth_failed"
    UNREACHABLE = "unreachable"
    NOT_RUNNING = "not_running"  # a local server (e.g. Ollama) that nothing answers for: not a failure of yours
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    ERROR = "error"
    DISABLED = "disabled"

    def __str__(self) -> str:
        return self.value


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class HealthStatus:
    """What one health probe found.

    Attributes:
        provider: The registered provider name.
        status: A `HealthState`.
        latency_ms: Probe round-trip time, when a response came back.
        model_count: Models the probe saw, when it listed them.
        detail: A short human-readable explanation (never a key or URL query).
        checked_at: When the probe finished (UTC).
    """

    provider: str
    status: HealthState
    latency_ms: float | None = None
    model_count: int | None = None
    detail: str = ""
    checked_at: datetime = field(default_factory=utcnow)

    @property
    def ok(self) -> bool:
        return self.status is HealthState.OK

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["status"] = self.status.value
        row["ok"] = self.ok
        return row
