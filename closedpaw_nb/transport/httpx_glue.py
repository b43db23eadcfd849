"""httpx where the ClosedPaw guide puts it: `BaseProvider.client` for custom providers.

The built-in providers speak HTTP through `client.HTTPClient` (aiohttp); a custom
provider gets an `httpx.AsyncClient` and may let httpx's exceptions escape. This module
makes that client and maps those exceptions into our error tree, without the URL
(httpx puts the full URL, query included, into its exception text). httpx is imported
lazily, so `import closedpaw_nb` stays quick.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..errors import APIConnectionError, APITimeoutError, ProviderError, error_for_status
from .headers import parse_retry_after
from .redact import install_log_filters, redact

if TYPE_CHECKING:
    import httpx

__all__ = ["map_httpx_error", "new_async_client"]

install_log_filters()


def new_async_client(timeout: float) -> httpx.AsyncClient:
    """The `httpx.AsyncClient` a custom provider gets as `BaseProvider.client` (the ClosedPaw
    guide's client): `timeout` seconds for each of connect, read, write and pool."""
    import httpx

    return httpx.AsyncClient(timeout=timeout)


def map_httpx_error(exc: BaseException, context: dict[str, Any]) -> ProviderError | None:
    """Our error for an exception httpx raised inside a custom provider, or None if it is not httpx's.

    `response.raise_for_status()` becomes the status's class (404 -> NotFoundError, 429 ->
    RateLimitError with the server's Retry-After...), so a custom provider's failures are
    retried and reported like a built-in's. Nothing of the URL is kept.
    """
    httpx = sys.modules.get("httpx")  # not loaded: the exception cannot be one of its
    if httpx is None or not isinstance(exc, httpx.HTTPError):
        return None
    if not isinstance(exc, httpx.HTTPStatusError):
        return _transport_error(exc, context)

    response = exc.response
    status = response.status_code
    return error_for_status(status)(
        f"HTTP {status} {response.reason_phrase}: {_body_excerpt(response)}".rstrip(": "),
        status_code=status,
        retry_after=parse_retry_after(response.headers),
        **context,
    )


def _body_excerpt(response: httpx.Response) -> str:
    try:
        return redact(response.text[:300])
    except Exception:  # a streamed body that was never read has no text to show
        return ""


def _transport_error(exc: httpx.HTTPError, context: dict[str, Any]) -> ProviderError:
    """Our error for an httpx exception, described without its URL."""
    import httpx

    kind = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return APITimeoutError("timed out connecting to the provider", **context)
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"the provider did not answer in time ({kind})", **context)
    if isinstance(exc, httpx.ConnectError):
        return APIConnectionError(
            "could not connect to the provider (connection refused or host unreachable)", **context
        )
    if isinstance(exc, (httpx.TooManyRedirects, httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return APIConnectionError(f"the request could not be sent ({kind})", **context)
    return APIConnectionError(f"the connection failed ({kind}: {redact(_first_line(exc))})", **context)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # httpx/httpcore messages may quote the URL; keep only a short, URL-free first line.
    line = text.splitlines()[0] if text else ""
    return "" if "://" in line else line[:120]
