"""Any OpenAI-compatible endpoint: vLLM, llama.cpp's server, LM Studio, Ollama's /v1."""

from __future__ import annotations

from typing import Any

from ..structured import ResponseFormat
from ..types import ProviderType
from ._openai_compat import OpenAICompatibleProvider

__all__ = ["CustomProvider"]


class CustomProvider(OpenAICompatibleProvider):
    """An OpenAI-compatible server at a `base_url` you give (required).

    The key is optional (local servers usually need none). `max_tokens` is sent rather
    than `max_completion_tokens`, since older compatible servers know only the former.

    Declares every capability (text, images, structured output, tools) in the OpenAI
    shapes: which of them a server really supports depends on the server and the model it
    runs, and one that lacks a feature answers with its own 400, which is the clearest
    error there is for an endpoint we cannot know in advance. The stream asks for usage
    (`stream_options.include_usage`); when it still has none, `settings["tokenize_endpoint"]`
    (an absolute URL of the server's tokenizer, set by `closedpaw_nb.local`) counts the
    output, else the count stays missing. Servers that constrain JSON to a schema in their
    own form, `{"type": "json_object", "schema": ...}` (llama-cpp-python's server), get it with
    `settings["schema_format"] = "json_object"` (set by `closedpaw_nb.local`).
    """

    provider_type = ProviderType.CUSTOM
    default_base_url = None
    base_url_ends = "/v1"  # OpenAI-compatible servers usually serve under /v1...
    warn_base_url = False  # ...but gateways vary: only a 404 mentions it
    needs_api_key = False
    needs_base_url = True

    def wire_response_format(self, fmt: ResponseFormat) -> dict[str, Any]:
        """OpenAI's `json_schema`, or `{"type": "json_object", "schema": ...}` when the server
        says it speaks that (`settings["schema_format"] == "json_object"`)."""
        if self.config.settings.get("schema_format") == "json_object" and fmt.schema is not None:
            return {"type": "json_object", "schema": fmt.schema}
        return super().wire_response_format(fmt)
