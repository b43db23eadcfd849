"""The one error tree of closedpaw_nb.

```
ClosedPawError
├── ConfigError                    something the user must fix (bad config, unknown target...)
│   └── MissingModelError          a call names no model and the provider has no default
├── VaultError                     the encrypted key store could not be used
│   ├── VaultPasswordError         wrong passphrase, or the file was tampered with
│   ├── VaultFormatError           not a vault file, unknown version, or weakened KDF parameters
│   └── VaultLockedError           another process holds the vault's lock
└── ProviderError                  a provider call failed; carries provider, model, status_code,
    │                              request_id, attempts, retry_after, partial_text
    ├── APIStatusError             the provider answered with an error status
    │   ├── BadRequestError              400 (and other unlisted 4xx)
    │   ├── AuthenticationError          401 (Gemini: 400 API_KEY_INVALID)
    │   ├── PermissionDeniedError        403
    │   ├── NotFoundError                404 (usually an unknown model)
    │   ├── ConflictError                409
    │   ├── UnprocessableEntityError     422
    │   ├── RateLimitError               429; `retry_after` in seconds when the server said
    │   │   └── QuotaExhaustedError      per-day or billing quota: waiting will not help
    │   └── InternalServerError          >= 500
    │       └── OverloadedError          529 / "overloaded"
    ├── APIConnectionError         no HTTP response (refused, reset, DNS...)
    │   └── APITimeoutError        a connect/read timeout
    │       └── DeadlineExceededError    the whole call ran past its overall deadline
    ├── StreamInterruptedError     a stream broke after its first byte; `partial_text` kept
    ├── ResponseParseError         a 2xx whose body was not what the protocol promises
    └── ProviderImplementationError  a provider's own code broke the contract (returned no
                                   ChatResponse, raised a bare exception...); says what to change
```

Messages are built from redacted text only: no error here ever holds a raw URL, a
header or an API key, and provider errors are raised `from None` so the httpx
exception (whose text includes the URL) is not chained into notebook tracebacks.
"""

from __future__ import annotations

from typing import Any

from .transport.redact import redact

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClosedPawError",
    "ConfigError",
    "ConflictError",
    "DeadlineExceededError",
    "InternalServerError",
    "MissingModelError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProviderError",
    "ProviderImplementationError",
    "QuotaExhaustedError",
    "RateLimitError",
    "ResponseParseError",
    "StreamInterruptedError",
    "UnprocessableEntityError",
    "VaultError",
    "VaultFormatError",
    "VaultLockedError",
    "VaultPasswordError",
    "error_for_status",
]


class ClosedPawError(Exception):
    """Base of every error closedpaw_nb raises on purpose."""


class ConfigError(ClosedPawError, ValueError):
    """Something the user must fix; the message says what."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class MissingModelError(ConfigError):
    """A call named no model and its provider has no default model; the message lists the
    provider's models when they could be read."""


class VaultError(ClosedPawError):
    """The DataVault could not be opened, read or written; the file is left as it was."""


class VaultPasswordError(VaultError):
    """Wrong passphrase, or the vault's contents were altered (the two look the same)."""


class VaultFormatError(VaultError):
    """Not a vault file, an unknown version, or KDF parameters below the safe floor."""


class VaultLockedError(VaultError):
    """Another process is writing the vault; try again in a moment."""


class ProviderError(ClosedPawError):
    """A call to a provider failed.

    Attributes:
        provider: Registered provider name.
        model: Model the call was for, if any.
        status_code: HTTP status, if a response came back.
        request_id: The provider's request id, if it sent one.
        attempts: HTTP attempts made (set by the retry loop).
        retry_after: Seconds the server asked us to wait, if it said.
        partial_text: Text already received when a stream failed.
        retryable: Whether the retry policy may try again.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        attempts: int = 1,
        retry_after: float | None = None,
        partial_text: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.message = redact(message)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.request_id = request_id
        self.attempts = attempts
        self.retry_after = retry_after
        self.partial_text = partial_text
        if retryable is not None:
            self.retryable = retryable
        super().__init__(self.message)

    def __str__(self) -> str:
        facts = [
            f"status {self.status_code}" if self.status_code is not None else None,
            f"model {self.model}" if self.model else None,
            f"request id {self.request_id}" if self.request_id else None,
            f"after {self.attempts} attempts" if self.attempts > 1 else None,
            f"retry after {self.retry_after:g}s" if self.retry_after is not None else None,
        ]
        tail = ", ".join(f for f in facts if f)
        head = f"{self.provider}: {self.message}" if self.provider else self.message
        return f"{head} ({tail})" if tail else head

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the keyword attributes when an error crosses a process boundary.
        return (_rebuild, (type(self), self.message, self._fields()))

    def _fields(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("provider", "model", "status_code", "request_id", "attempts", "retry_after", "partial_text")
        }


def _rebuild(cls: type[ProviderError], message: str, fields: dict[str, Any]) -> ProviderError:
    return cls(message, **fields)


class APIStatusError(ProviderError):
    """The provider answered with an error status."""


class BadRequestError(APIStatusError):
    """400: the request was malformed or not accepted."""


class AuthenticationError(APIStatusError):
    """401 (or Gemini's 400 API_KEY_INVALID): the key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this resource."""


class NotFoundError(APIStatusError):
    """404: usually an unknown model name."""


class ConflictError(APIStatusError):
    """409: a conflicting request; safe to retry."""

    retryable = True


class UnprocessableEntityError(APIStatusError):
    """422: the body was understood but rejected (e.g. an unknown field)."""


class RateLimitError(APIStatusError):
    """429: slow down; `retry_after` holds the server's delay when it gave one."""

    retryable = True


class QuotaExhaustedError(RateLimitError):
    """429 for a per-day or billing quota: retrying now will not help."""

    retryable = False


class InternalServerError(APIStatusError):
    """5xx: the provider failed."""

    retryable = True


class OverloadedError(InternalServerError):
    """529 or an "overloaded" error event."""


class APIConnectionError(ProviderError):
    """No HTTP response came back (refused, reset, DNS failure...)."""

    retryable = True


class APITimeoutError(APIConnectionError):
    """A connect or read timeout."""


class DeadlineExceededError(APITimeoutError):
    """The call's overall deadline passed; not retried."""

    retryable = False


class StreamInterruptedError(ProviderError):
    """A stream broke after its first byte; `partial_text` holds what arrived.

    Never retried automatically: the caller already saw part of the answer.
    """


class ResponseParseError(ProviderError):
    """A successful status whose body did not match the provider's protocol."""


class ProviderImplementationError(ProviderError):
    """A provider's own code did not keep the BaseProvider contract; the message says what to change.

    Raised for a `chat()` that returns something other than a `ChatResponse`, a stream
    item that is neither text nor a `ChatResponse`, or an exception from outside the
    error tree (a bare `Exception("API error: 500")`, a `KeyError` from parsing). The
    original exception is kept as `__cause__` for the traceback. Never retried.
    """


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    529: OverloadedError,
}


def error_for_status(status_code: int) -> type[APIStatusError]:
    """The error class for an HTTP status (providers refine it where their API says more)."""
    if status_code in _STATUS_CLASSES:
        return _STATUS_CLASSES[status_code]
    return InternalServerError if status_code >= 500 else BadRequestError
