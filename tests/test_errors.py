"""The error tree: classes by status, retryability, messages without secrets."""

from __future__ import annotations

import pickle

import pytest

from closedpaw_nb import errors
from closedpaw_nb.config import Secret

CANARY = "sk-test-CANARY-errors-0123456789"


@pytest.mark.parametrize(
    "status, cls",
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (409, errors.ConflictError),
        (413, errors.BadRequestError),
        (422, errors.UnprocessableEntityError),
        (429, errors.RateLimitError),
        (500, errors.InternalServerError),
        (503, errors.InternalServerError),
        (529, errors.OverloadedError),
    ],
)
def test_error_for_status(status, cls):
    assert errors.error_for_status(status) is cls


def test_tree_shape():
    assert issubclass(errors.QuotaExhaustedError, errors.RateLimitError)
    assert issubclass(errors.OverloadedError, errors.InternalServerError)
    assert issubclass(errors.APITimeoutError, errors.APIConnectionError)
    assert issubclass(errors.DeadlineExceededError, errors.APITimeoutError)
    for cls in (
        errors.APIStatusError,
        errors.APIConnectionError,
        errors.StreamInterruptedError,
        errors.ResponseParseError,
    ):
        assert issubclass(cls, errors.ProviderError)
    assert issubclass(errors.ConfigError, errors.ClosedPawError)
    assert errors.RateLimitError.retryable and not errors.QuotaExhaustedError.retryable
    assert not errors.StreamInterruptedError.retryable and errors.APIConnectionError.retryable


def test_message_carries_context_and_no_secret():
    Secret(CANARY)  # registers the value with the redactor
    err = errors.RateLimitError(
        f"bad key {CANARY} and url https://x/y?key={CANARY}",
        provider="p",
        model="m",
        status_code=429,
        request_id="req_1",
        retry_after=2.5,
    )
    text = str(err) + repr(err)
    assert CANARY not in text
    assert "p:" in text and "status 429" in text and "model m" in text and "req_1" in text and "2.5" in text


def test_errors_pickle_with_their_fields():
    err = errors.StreamInterruptedError("cut", provider="p", partial_text="abc", attempts=2)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is errors.StreamInterruptedError and copy.partial_text == "abc" and copy.attempts == 2
