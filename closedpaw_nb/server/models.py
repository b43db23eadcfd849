"""Request and response bodies of the HTTP API (pydantic; they are also the OpenAPI schema).

Requests forbid unknown fields, so a misspelt `api_key` is a 422 rather than a
registration that silently has no key. No response model has a field for a key:
providers show `has_key` and a short `key_fingerprint` at most.
"""

from __future__ import annotations

import re
import types
import typing
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    Strict,
    StringConstraints,
    field_validator,
)

from ..transport.headers import forbidden_header_problem
from ..types import ProviderType

__all__ = [
    "AllModels",
    "ChatRequest",
    "ChatResult",
    "DefaultSet",
    "Deleted",
    "ErrorBody",
    "ErrorDetail",
    "HealthEntry",
    "HealthReport",
    "Liveness",
    "Message",
    "ModelEntry",
    "ProviderInfo",
    "ProviderModels",
    "ProviderSettings",
    "ProvidersStatus",
    "RegisterRequest",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# Letters, digits and the punctuation real model ids use (org/model:tag, v1@2024, a+b);
# nothing that could turn into a query, fragment or header break on the way out.
MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+~-]{0,199}$"
KEY_PATTERN = r"^[\x21-\x7e]{1,4096}$"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9-]{1,64}$"
HEADER_VALUE_PATTERN = r"^[\x20-\x7e]{0,1024}$"

ProviderName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
ModelName = Annotated[str, StringConstraints(pattern=MODEL_PATTERN)]
HeaderName = Annotated[str, StringConstraints(pattern=HEADER_NAME_PATTERN)]
HeaderValue = Annotated[str, StringConstraints(pattern=HEADER_VALUE_PATTERN)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x20-\x7e]+$")]
BaseURL = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


def _leaves(annotation: Any) -> list[Any]:
    """The types (and Literal values) a field annotation admits, unions and Annotated unwrapped."""
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, Annotated):
        return [leaf for arg in typing.get_args(annotation) for leaf in _leaves(arg)]
    return [annotation]


def _accepts(annotation: Any, kind: type) -> bool:
    """Whether a JSON bool/str may be given to this field at all."""
    for leaf in _leaves(annotation):
        if isinstance(leaf, kind) or leaf is Any:
            return True
        if isinstance(leaf, type) and issubclass(leaf, kind):
            return True
        if kind is str and isinstance(leaf, type) and issubclass(leaf, (SecretStr, datetime)):
            return True
        if typing.get_origin(leaf) in (list, dict, tuple):
            continue
    return False


def _kind(annotation: Any) -> str:
    names = {getattr(leaf, "__name__", str(leaf)) for leaf in _leaves(annotation)}
    return " or ".join(sorted(n for n in names if n != "NoneType")) or "a value"


# Numbers as JSON Schema means them: 1 and 1.0 are both integers, but "3" is no
# temperature (strict floats), and `true`/`false` is no number (see _Request).
StrictNumber = Annotated[float, Strict()]
StrictCount = int


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _json_types_only(cls, value: Any, info: Any) -> Any:
        # pydantic's lax mode would turn `true` into 1 and "3" into 3; the schema promises
        # numbers, so a bool or a string is refused where the field does not take one.
        annotation = cls.model_fields[info.field_name].annotation
        if isinstance(value, (bool, str)) and not _accepts(annotation, type(value)):
            raise ValueError(f"expected {_kind(annotation)}, not {type(value).__name__}")
        return value


# -- errors -------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    """What went wrong."""

    type: str = Field(description="Machine-readable kind, e.g. `not_found`, `validation_error`, `RateLimitError`.")
    message: str = Field(description="What went wrong and what to do about it.")
    fields: list[dict[str, str]] | None = Field(
        None, description="For validation errors: each wrong field (`field`) and the `problem` with it."
    )
    provider: str | None = Field(None, description="For provider errors: the provider that failed.")
    upstream_status: StrictCount | None = Field(None, description="For provider errors: the status the provider sent.")
    retry_after: StrictNumber | None = Field(
        None, description="For provider errors: seconds the provider asked to wait."
    )


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    error: ErrorDetail


# -- providers ----------------------------------------------------------------------------


class ProviderSettings(_Request):
    """Provider-specific extras; only these keys are accepted over HTTP."""

    organization: Label | None = Field(None, description="OpenAI: sent as OpenAI-Organization.")
    project: Label | None = Field(None, description="OpenAI: sent as OpenAI-Project.")
    anthropic_version: Label | None = Field(None, description="Anthropic: the anthropic-version header.")
    anthropic_beta: Label | None = Field(None, description="Anthropic: the anthropic-beta header.")
    api_version: Annotated[str, StringConstraints(pattern=r"^v[0-9a-z]{1,15}$")] | None = Field(
        None, description="Google: API version path segment, e.g. `v1beta`."
    )
    max_tokens: StrictCount | None = Field(None, ge=1, le=1_000_000, description="Anthropic: default max_tokens.")
    max_retries: StrictCount | None = Field(None, ge=0, le=10, description="Retries after a retryable failure.")
    retries: bool | None = Field(None, description="`false` turns retrying off.")
    retry_initial_delay: StrictNumber | None = Field(None, ge=0, le=60, description="First backoff delay (s).")
    retry_max_delay: StrictNumber | None = Field(None, ge=0, le=600, description="Largest backoff delay (s).")
    retry_max_server_delay: StrictNumber | None = Field(
        None, ge=0, le=3600, description="Longest Retry-After the client will honour (s)."
    )
    tokens_per_minute: StrictCount | None = Field(None, ge=1, le=100_000_000, description="Client-side token budget.")
    deadline: StrictNumber | None = Field(None, gt=0, le=3600, description="Overall deadline per call (s).")
    total_timeout: StrictNumber | None = Field(
        None,
        gt=0,
        le=7200,
        description="Limit on one HTTP exchange, head to last byte (s); default max(60, 2 x timeout).",
    )
    max_stream_bytes: StrictCount | None = Field(
        None, ge=1024, le=1024**3, description="Cap on a streamed answer's bytes (default 64 MiB)."
    )
    max_stream_line_bytes: StrictCount | None = Field(
        None, ge=1024, le=64 * 1024**2, description="Cap on one line of a streamed answer (default 4 MiB)."
    )
    extra_headers: dict[HeaderName, HeaderValue] | None = Field(
        None,
        max_length=20,
        description="Extra request headers (auth headers cannot be overridden; framing and hop-by-hop "
        "headers such as Host, Content-Length, Transfer-Encoding, Connection, TE, Upgrade, Expect and "
        "Proxy-* are refused).",
    )

    @field_validator("extra_headers")
    @classmethod
    def _no_framing_headers(cls, headers: dict[str, str] | None) -> dict[str, str] | None:
        for name in headers or {}:
            problem = forbidden_header_problem(name)
            if problem:
                raise ValueError(problem)
        return headers


class RegisterRequest(_Request):
    """A provider to register (the fields of ProviderConfig)."""

    provider_type: ProviderType = Field(description="Which API the provider speaks.")
    name: ProviderName | None = Field(
        None, description="Unique name (letters, digits, `._-`, up to 64); defaults to provider_type."
    )
    api_key: SecretStr | None = Field(
        None,
        json_schema_extra={"pattern": KEY_PATTERN, "maxLength": 4096},
        description="The provider's API key; kept in memory, never returned or logged. Required "
        "for a cloud provider at a base_url other than its official one. Accepted "
        "only here, in the JSON body: a key in a query string is refused.",
    )
    base_url: BaseURL | None = Field(
        None,
        json_schema_extra={"format": "uri", "examples": ["https://api.example.com/v1"]},
        description="API root; omit for the provider's official endpoint (custom requires one). "
        "http(s) only, no credentials, no link-local or metadata addresses.",
    )
    models: list[ModelName] = Field(
        default_factory=list, max_length=500, description="Known models; used when the live list is unavailable."
    )
    default_model: ModelName | None = Field(None, description="Model used when a chat names none.")
    enabled: bool = Field(True, description="Disabled providers are skipped by health checks.")
    rate_limit: StrictCount | None = Field(
        None, ge=1, le=1_000_000, description="Requests per minute (none: no limit)."
    )
    timeout: StrictNumber = Field(600.0, gt=0, le=3600, description="Read timeout for generation calls (s).")
    settings: ProviderSettings | None = Field(None, description="Provider-specific extras.")

    @field_validator("api_key")
    @classmethod
    def _key_is_header_safe(cls, key: SecretStr | None) -> SecretStr | None:
        # The key travels in a header: spaces or control characters would break it.
        if key is not None and not re.fullmatch(KEY_PATTERN, key.get_secret_value()):
            raise ValueError(
                "api_key must be 1-4096 printable ASCII characters without spaces (omit the field to use a stored key)"
            )
        return key


class ProviderInfo(BaseModel):
    """A registered provider as it may be shown: never its key."""

    provider_type: str = Field(description="Which API the provider speaks.")
    name: str = Field(description="The registered name.")
    base_url: str | None = Field(description="The API root requests go to.")
    models: list[str] = Field(description="Configured models.")
    default_model: str | None = Field(description="Model used when a chat names none.")
    enabled: bool = Field(description="Whether health checks include it.")
    rate_limit: StrictCount | None = Field(description="Requests per minute, if limited.")
    timeout: StrictNumber = Field(description="Read timeout (s).")
    has_key: bool = Field(description="Whether a key is configured.")
    key_fingerprint: str | None = Field(description="`sha256:` + 8 hex digits of the key's hash, to tell keys apart.")


class ProvidersStatus(BaseModel):
    """All registered providers and the default."""

    default: str | None = Field(description="Provider used when a chat names none.")
    providers: dict[str, ProviderInfo] = Field(description="By name.")


class ModelEntry(BaseModel):
    """One model a provider offers."""

    id: str
    display_name: str | None = None
    context_length: int | None = None


class ProviderModels(BaseModel):
    """Models of one provider (live from its models endpoint, else its configured list).

    `models` keeps the seed's shape (the ids) so the seed's callers work unchanged; the
    richer entries sit beside it in `details`.
    """

    provider: str
    models: list[str] = Field(description="Model ids, the seed's form.")
    details: list[ModelEntry] = Field(description="The same models, in the same order, with what the API said.")


class AllModels(BaseModel):
    """Model ids of every enabled provider; a provider whose listing failed maps to []."""

    models: dict[str, list[str]]


class HealthEntry(BaseModel):
    """What one unbilled health probe found."""

    provider: str
    status: str = Field(description="ok, auth_failed, unreachable, timeout, rate_limited, error or disabled.")
    ok: bool
    latency_ms: float | None = None
    model_count: int | None = None
    detail: str = Field("", description="A short explanation (never a key).")
    checked_at: datetime


class HealthReport(BaseModel):
    """Health of all providers, probed concurrently."""

    healthy: StrictCount = Field(description="How many providers answered ok.")
    total: int
    providers: dict[str, HealthEntry]


class DefaultSet(BaseModel):
    """The new default provider."""

    default: str


class Deleted(BaseModel):
    """A provider was removed and its connections closed."""

    deleted: str
    default: str | None = Field(description="The default provider afterwards.")


class Liveness(BaseModel):
    """The process is up (says nothing about providers)."""

    status: Literal["ok"] = "ok"


# -- chat ---------------------------------------------------------------------------------


class Message(_Request):
    """One turn of the conversation."""

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=1_000_000)


class ChatRequest(_Request):
    """A chat call; knobs left out use the provider's defaults."""

    provider: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="Registered provider name; the default provider when omitted."
    )
    model: ModelName | None = Field(None, description="Model id; the provider's default_model when omitted.")
    messages: list[Message] = Field(min_length=1, max_length=1000, description="The conversation, oldest first.")
    temperature: StrictNumber | None = Field(None, ge=0, le=2)
    top_p: StrictNumber | None = Field(None, ge=0, le=1)
    max_tokens: StrictCount | None = Field(None, ge=1, le=1_000_000, description="Cap on generated tokens.")
    stop: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None = Field(
        None, max_length=16, description="Stop sequences."
    )
    seed: StrictCount | None = Field(
        None, ge=0, le=2**31 - 1, description="Sampling seed where the API has one (a range every such API accepts)."
    )
    stream: bool = Field(False, description="`true`: answer as server-sent events (`delta`, then `done` or `error`).")

    def options(self) -> dict[str, Any]:
        """The knobs that were given, as ProviderManager.chat keyword options."""
        knobs = self.model_dump(include={"temperature", "top_p", "max_tokens", "stop", "seed"})
        return {k: v for k, v in knobs.items() if v is not None}


class ChatResult(BaseModel):
    """A chat answer: the ChatResponse fields (the `done` event of a stream carries the same)."""

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
    provider_details: dict[str, Any] = Field(default_factory=dict)
