"""OpenAI chat completions (`api.openai.com/v1`)."""

from __future__ import annotations

from typing import ClassVar

from ..types import ProviderType
from ._openai_compat import OpenAICompatibleProvider

__all__ = ["OpenAIProvider"]


class OpenAIProvider(OpenAICompatibleProvider):
    """OpenAI: Bearer key, `max_completion_tokens`, stream usage via `stream_options`.

    Takes images (`image_url` parts), structured output (strict `json_schema`, or
    `json_object` for "json"; a refusal lands in `ChatResponse.refusal`) and tools.

    Optional settings: "organization" and "project" become the OpenAI-Organization and
    OpenAI-Project headers.
    """

    provider_type = ProviderType.OPENAI
    default_base_url = "https://api.openai.com/v1"
    base_url_ends = "/v1"  # the OpenAI SDK's convention: the /v1 is part of the base URL
    env_api_key = ("OPENAI_API_KEY",)
    needs_api_key = True
    # `max_tokens` is deprecated and rejected by reasoning models.
    max_tokens_field: ClassVar[str] = "max_completion_tokens"

    def auth_headers(self) -> dict[str, str]:
        headers = super().auth_headers()
        for setting, header in (("organization", "OpenAI-Organization"), ("project", "OpenAI-Project")):
            if self.config.settings.get(setting):
                headers[header] = str(self.config.settings[setting])
        return headers
