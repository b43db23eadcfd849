"""Any OpenAI-compatible endpoint: vLLM, llama.cpp's server, LM Studio, Ollama's /v1."""

from __future__ import annotations

from ..types import ProviderType
from ._openai_compat import OpenAICompatibleProvider

__all__ = ["CustomProvider"]


class CustomProvider(OpenAICompatibleProvider):
    """An OpenAI-compatible server at a `base_url` you give (required).

    The key is optional (local servers usually need none). `max_tokens` is sent rather
    than `max_completion_tokens`, since older compatible servers know only the former.
    """

    provider_type = ProviderType.CUSTOM
    default_base_url = None
    needs_api_key = False
    needs_base_url = True
