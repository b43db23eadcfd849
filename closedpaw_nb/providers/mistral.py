"""Mistral chat completions (`api.mistral.ai`, paths under /v1 as in the official SDK)."""

from __future__ import annotations

from typing import ClassVar

from ..types import ProviderType
from ._openai_compat import OpenAICompatibleProvider

__all__ = ["MistralProvider"]


class MistralProvider(OpenAICompatibleProvider):
    """Mistral: OpenAI-shaped, but the server rejects unknown fields with 422.

    So it gets `max_tokens` and `random_seed`, and no `stream_options` (usage arrives
    on the finish chunk anyway).
    """

    provider_type = ProviderType.MISTRAL
    default_base_url = "https://api.mistral.ai"
    env_api_key = ("MISTRAL_API_KEY",)
    needs_api_key = True
    seed_field: ClassVar[str] = "random_seed"
    include_stream_usage: ClassVar[bool] = False
    path_prefix: ClassVar[str] = "/v1"
