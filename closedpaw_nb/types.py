"""Plain data types shared by every layer: no I/O, no httpx, no pandas.

`ProviderType`, `ChatMessage` and `ChatResponse` keep the names and fields of the
ClosedPaw seed; the rest (`Usage`, `ModelInfo`, `HealthStatus`, `StreamEvent`) are the
small records the gateway passes around.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

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


ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation.

    Attributes:
        role: "system", "user" or "assistant".
        content: The text of the turn.
    """

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"ChatMessage.role must be one of {ROLES}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError("ChatMessage.content must be a str")

    def to_dict(self) -> dict[str, str]:
        """The message as `{"role": ..., "content": ...}` (the seed's wire-neutral form)."""
        return {"role": self.role, "content": self.content}


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

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (for DataFrames and JSON)."""
        return asdict(self)


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
