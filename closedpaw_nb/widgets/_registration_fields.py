"""The registration form's widgets: inputs linked to `RegistrationForm`, inline hints,
and fields shown or hidden by provider type. No actions: the panel wires the buttons."""

from __future__ import annotations

import os
from typing import Any

import ipywidgets as w
import traitlets

from ._state import RegistrationForm, field_rules
from ._views import LABEL_STYLE, button, holding, message, note, row

__all__ = ["FIELDS", "KEY_NOTE", "RegistrationFields"]

TYPE_LABELS = [
    ("OpenAI", "openai"),
    ("Anthropic", "anthropic"),
    ("Google Gemini", "google"),
    ("Mistral", "mistral"),
    ("Ollama (local)", "ollama"),
    ("Custom (OpenAI-compatible)", "custom"),
]
KEY_NOTE = (
    "The key goes to the kernel only and leaves this form when you press Test connection or "
    "Register, so it is never saved in the notebook."
)
FIELDS = ("name", "base_url", "api_key", "default_model", "limits", "form")
INDENT = "0 0 0 138px"  # lines notes up with the inputs, past the 130px labels


class RegistrationFields(w.VBox):  # type: ignore[misc]  # ipywidgets ships no types
    """Inputs, per-field error hints, the key note, the buttons and the status line.

    Args:
        form: The state the inputs are linked to (the state's values win at start).
        vault_enabled: Whether the "store key in DataVault" option can be ticked.
    """

    def __init__(self, form: RegistrationForm, vault_enabled: bool) -> None:
        self.form = form
        self._build_inputs()
        super().__init__(self._layout(vault_enabled))
        form.observe(self._render_messages, names=["errors", "status"])
        form.observe(lambda c: setattr(self.default_model, "options", tuple(c["new"])), names="models")
        self.provider_type.observe(self._on_type, names="value")
        self._on_type({"old": None, "new": self.provider_type.value})

    def _build_inputs(self) -> None:
        text = dict(style=LABEL_STYLE, layout=w.Layout(width="480px"))
        self.provider_type = w.Dropdown(options=TYPE_LABELS, description="Provider type", **text)
        self.name = w.Text(description="Name", placeholder="defaults to the type", **text)
        self.base_url = w.Text(description="Base URL", **text)
        self.api_key = w.Password(description="API key", placeholder="paste the key", **text)
        self.default_model = w.Combobox(
            description="Default model", placeholder="Test connection lists them", ensure_option=False, **text
        )
        self.rate_limit = w.BoundedIntText(
            0, min=0, max=1_000_000, description="Rate limit /min", style=LABEL_STYLE, layout=w.Layout(width="230px")
        )
        self.timeout = w.BoundedFloatText(
            600.0,
            min=0.1,
            max=3600,
            description="Timeout (s)",
            style={"description_width": "80px"},
            layout=w.Layout(width="180px"),
        )
        self.store_key = w.Checkbox(False, description="store key in DataVault", indent=False)
        self.test_button = button(
            "Test connection",
            icon="plug",
            cls="cpnb-test",
            tooltip="List the models with these settings (no billed call)",
        )
        self.register_button = button("Register", "primary", "plus", cls="cpnb-register")
        self.status_html = w.HTML()
        self.hints = {f: w.HTML() for f in FIELDS}
        for wid, cls in (
            (self.provider_type, "cpnb-type"),
            (self.name, "cpnb-name"),
            (self.base_url, "cpnb-url"),
            (self.api_key, "cpnb-key"),
            (self.default_model, "cpnb-model"),
            (self.status_html, "cpnb-status"),
        ):
            wid.add_class(cls)
        for widget, trait in (
            (self.provider_type, "provider_type"),
            (self.name, "name"),
            (self.base_url, "base_url"),
            (self.default_model, "default_model"),
            (self.rate_limit, "rate_limit"),
            (self.timeout, "timeout"),
            (self.store_key, "store_in_vault"),
        ):
            traitlets.link((self.form, trait), (widget, "value"))  # the state wins at start

    def _layout(self, vault_enabled: bool) -> list[w.Widget]:
        self.key_note = w.HTML(layout=w.Layout(margin=INDENT))
        self.vault_note = w.HTML("" if vault_enabled else note("needs a vault: pass vault=DataVault(...) to the panel"))
        self.store_key.disabled = not vault_enabled
        self.rows = {
            "name": row(self.name, self.hints["name"]),
            "base_url": row(self.base_url, self.hints["base_url"]),
            "api_key": w.VBox(
                [
                    row(self.api_key, self.hints["api_key"]),
                    self.key_note,
                    row(self.store_key, self.vault_note, gap="0px"),
                ]
            ),
            "default_model": row(self.default_model, self.hints["default_model"]),
            "limits": row(self.rate_limit, self.timeout, self.hints["limits"]),
        }
        self.store_key.layout = w.Layout(margin=INDENT, width="auto")
        buttons = row(self.test_button, self.register_button, self.hints["form"])
        return [self.provider_type, *self.rows.values(), buttons, self.status_html]

    def _on_type(self, change: dict[str, Any]) -> None:
        rules = field_rules(change["new"])
        old = field_rules(change["old"]).default_base_url if change["old"] else ""
        with holding(self.base_url, self.api_key):
            if self.base_url.value in ("", old):  # keep a URL the user typed
                self.base_url.value = rules.default_base_url
            self.base_url.placeholder = "required, e.g. http://127.0.0.1:8080/v1" if rules.needs_base_url else ""
            self.api_key.placeholder = rules.key_placeholder
        self.rows["api_key"].layout.display = "" if rules.show_key else "none"
        env = [v for v in rules.env_vars if os.environ.get(v)]
        self.key_note.value = note((f"Leave empty to use ${env[0]}. " if env else "") + KEY_NOTE)
        self.form.errors = {}

    def _render_messages(self, _change: Any = None) -> None:
        errors = self.form.errors
        for field, hint in self.hints.items():
            hint.value = message(errors.get(field, ""), "error")
        self.status_html.value = message(self.form.status, "ok" if not errors else "info")
