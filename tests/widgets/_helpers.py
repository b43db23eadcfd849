"""Helpers for the widget tests: a slow streaming provider, widget-state scans, polling."""

from __future__ import annotations

import asyncio
import json

import ipywidgets as w

from closedpaw_nb.providers import BaseProvider
from closedpaw_nb.types import ChatResponse, ProviderType
from conftest import wait_until  # noqa: F401 - the widget tests' polling (state changed by the runner thread)

KEY = "sk-test-key-0123456789"


class SlowProvider(BaseProvider):
    """Streams `settings["n"]` deltas `settings["delay"]` seconds apart; records closed streams."""

    provider_type = ProviderType.CUSTOM
    closed: list[str] = []

    async def chat(self, messages, model=None, **options):
        text = "".join(self._words())
        return ChatResponse(
            text,
            model or "slow-model",
            self.name,
            prompt_tokens=3,
            completion_tokens=len(self._words()),
            finish_reason="stop",
        )

    def _words(self) -> list[str]:
        return [f"w{i} " for i in range(self.config.settings.get("n", 30))]

    async def stream_chat(self, messages, model=None, **options):
        try:
            for word in self._words():
                await asyncio.sleep(self.config.settings.get("delay", 0.01))
                yield word
            yield ChatResponse(
                "".join(self._words()),
                model or "slow-model",
                self.name,
                prompt_tokens=3,
                completion_tokens=len(self._words()),
                finish_reason="stop",
            )
        finally:
            SlowProvider.closed.append(self.name)


def all_widget_state() -> str:
    """Every live widget's state, as the notebook would save it, serialised to one string."""
    return json.dumps(w.Widget.get_manager_state(drop_defaults=False), default=str)
