"""Mistral chat completions (`api.mistral.ai`, paths under /v1 as in the official SDK)."""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

from ..types import ProviderType
from ._openai_compat import OpenAICompatibleProvider

__all__ = ["MistralProvider"]

_ID = re.compile(r"[a-zA-Z0-9]{9}")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class MistralProvider(OpenAICompatibleProvider):
    """Mistral: OpenAI-shaped, but the server rejects unknown fields with 422.

    So it gets `max_tokens` and `random_seed`, and no `stream_options` (usage arrives
    on the finish chunk anyway). Its differences for tools: "call a tool" is
    `tool_choice: "any"`, a tool result carries the tool's `name`, and call ids must be
    nine letters or digits. Structured output is the OpenAI `json_schema` form (what the
    official SDK's `chat.parse` sends, strict) or `json_object`.
    """

    provider_type = ProviderType.MISTRAL
    default_base_url = "https://api.mistral.ai"
    base_url_never_ends = ("/v1",)  # the host only; this provider adds /v1
    env_api_key = ("MISTRAL_API_KEY",)
    needs_api_key = True
    seed_field: ClassVar[str] = "random_seed"
    include_stream_usage: ClassVar[bool] = False
    path_prefix: ClassVar[str] = "/v1"
    required_tool_choice: ClassVar[str] = "any"
    tool_result_name: ClassVar[bool] = True

    def wire_call_id(self, call_id: str) -> str:
        """Mistral's own ids pass; another provider's (e.g. OpenAI's `call_...`) is mapped to nine
        characters derived from it, the same in the assistant turn and in its tool result
        (the API answers 400 to any other form)."""
        if _ID.fullmatch(call_id):
            return call_id
        number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
        chars = []
        for _ in range(9):
            number, index = divmod(number, len(_ALPHABET))
            chars.append(_ALPHABET[index])
        return "".join(chars)
