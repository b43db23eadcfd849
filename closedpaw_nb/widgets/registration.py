"""`RegistrationPanel`: add providers from a form, test them, and manage the registered ones.

The API key is typed into a Password field and taken out of it by the first button that
uses it: "Test connection" (which keeps it in kernel memory, never in a widget, for the
Register that follows) or Register, which empties the field whether registration
succeeds or not. So the notebook's saved widget state never holds a key. "Test
connection" never bills: it lists models. "Save profiles" / "Load profiles" keep the
registered providers' non-secret settings in a file (`closedpaw_nb.profiles`; never a key).
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..config import ProviderConfig
from ..errors import ConfigError
from ..manager import HEALTH_TIMEOUT, BaseURLWarning, ProviderManager, probe
from ..profiles import load_profiles, save_profiles
from ._jobs import Job
from ._providers_table import ProvidersTable, health_text
from ._registration_fields import RegistrationFields
from ._shared import default_manager
from ._state import RegistrationForm, field_rules
from ._validate import check_form, field_of
from ._views import JobPanel, button, holding, row

__all__ = ["RegistrationPanel"]


class RegistrationPanel(JobPanel):
    """Register providers through a form; list, test, set default and remove them.

    Args:
        manager: The ProviderManager to register into (default: the notebook helpers' one).
        vault: A DataVault (or anything with `store(name, key)` / `retrieve(name)`); enables
            the "store key in DataVault" option.
        probe_timeout: Seconds a connection test or health probe may take.
        profiles_path: The file "Save profiles" / "Load profiles" use (default:
            `profiles.default_profiles_path()`, in the user config directory).

    Attributes:
        form: The `RegistrationForm` state (fields, errors, status, health per provider).
        fields: The form's widgets (`provider_type`, `name`, `base_url`, `api_key`, ... are
            also attributes of the panel).
        table: The registered-providers grid; `table.rows` is a DataFrame of it.
    """

    def __init__(
        self,
        manager: ProviderManager | None = None,
        vault: Any = None,
        probe_timeout: float = HEALTH_TIMEOUT,
        profiles_path: str | Path | None = None,
    ) -> None:
        self.manager = manager if manager is not None else default_manager()  # an empty manager is falsy
        self.vault, self.probe_timeout, self.profiles_path = vault, probe_timeout, profiles_path
        self._held_key = ""  # a tested key waiting for Register: Python memory only, never a trait
        self._failed_test: tuple[Any, str | None] | None = None  # (type, base URL) of a failed test
        self._confirming = False  # Register was pressed once after a failed test
        self.form = RegistrationForm()
        self.job = Job(self._set_busy, lambda exc: self._fail("form", f"{type(exc).__name__}: {exc}"))
        self.fields = RegistrationFields(self.form, vault_enabled=vault is not None)
        f = self.fields
        # The inputs, as attributes of the panel: what a test (or a user) sets and clicks.
        self.provider_type, self.name, self.base_url, self.api_key = f.provider_type, f.name, f.base_url, f.api_key
        self.default_model, self.rate_limit, self.timeout, self.store_key = (
            f.default_model,
            f.rate_limit,
            f.timeout,
            f.store_key,
        )
        self.test_button, self.register_button, self.hints = f.test_button, f.register_button, f.hints
        self.test_button.on_click(lambda _b: self.test_connection())
        self.register_button.on_click(lambda _b: self.register())
        self.table = ProvidersTable(self.set_default, self.remove)
        tip = "the registered providers' settings, never a key"
        self.save_button = button("Save profiles", icon="save", cls="cpnb-save-profiles", tooltip=f"Save {tip}")
        self.load_button = button("Load profiles", icon="upload", cls="cpnb-load-profiles", tooltip=f"Load {tip}")
        self.save_button.on_click(lambda _b: self.save_profiles())
        self.load_button.on_click(lambda _b: self.load_profiles())
        heading = w.HTML("<h4>Registered providers</h4>")
        profiles = row(self.save_button, self.load_button)
        super().__init__([f, heading, self.table, profiles], layout=w.Layout(padding="6px"))
        self.add_class("cpnb-registration")
        self.form.observe(lambda _c: self.refresh(), names=["health", "revision"])
        self.form.observe(lambda _c: self._hold(""), names="provider_type")  # a key belongs to its type
        self.refresh()

    def _set_busy(self, busy: bool) -> None:
        self.form.busy = busy
        with holding(self.test_button, self.register_button, self.load_button):
            self.test_button.disabled = self.register_button.disabled = self.load_button.disabled = busy

    # -- actions ----------------------------------------------------------------------

    def _fail(self, field: str, text: str) -> None:
        self.form.errors = {**self.form.errors, field: text}

    def _take_key(self) -> str:
        """The typed key (else the one held since Test connection); the field is emptied."""
        typed = self.api_key.value
        self.api_key.value = ""  # consumed: the key must never stay in the widget state
        return typed or self._held_key

    def _needs_confirmation(self) -> bool:
        if self._failed_test is None or self._confirming or self.job.running:
            return False
        same = self._failed_test == (self.form.provider_type, self.form.base_url.strip() or None)
        return same

    def _hold(self, key: str) -> None:
        self._held_key = key
        self.api_key.placeholder = (
            "key received: kept in memory for Register, not in the form"
            if key
            else field_rules(self.form.provider_type).key_placeholder
        )

    def test_connection(self) -> bool:
        """List the models with the form's settings (no billed call) and offer them as the
        default model. The key leaves the form but is kept (in memory) for Register.
        Returns False when the form is invalid or work is running."""
        if self.job.running:
            return False
        key = self._take_key()
        self._hold(key)
        errors, config = check_form(self.form, key, self.manager, self.vault, for_register=False)
        self.form.errors = errors
        if config is None:
            self.form.status = ""
            return False
        self.form.status = f"Testing {config.base_url or 'the default URL'} …"
        return self.job.start(self._test(config))

    async def _test(self, config: ProviderConfig) -> None:
        # A throwaway manager builds the provider exactly as registration would (base URL
        # default, key lookup), without touching the real one.
        scratch = ProviderManager(key_lookup=self.manager.key_lookup)
        try:
            with warnings.catch_warnings():  # the base-URL advice is shown below, not warned
                warnings.simplefilter("ignore", BaseURLWarning)
                provider = scratch.register_provider(config)
            health = await probe(provider, self.probe_timeout)
            models = [m.id for m in await provider.list_model_info()] if health.ok else []
        except ConfigError as exc:
            self.form.status = ""
            return self._fail(field_of(str(exc)), str(exc))
        finally:
            await scratch.close_all()
        advice = provider.base_url_advice(config.base_url)
        if not health.ok:
            self.form.status = ""
            self._failed_test = (config.provider_type, config.base_url)  # Register then asks first
            hint = f" Hint: {advice}." if advice and "try " not in health.detail else ""
            return self._fail("form", f"Connection failed ({health.status}): {health.detail}{hint}")
        self._failed_test = None
        self.form.models = models
        if models and self.form.default_model not in models:
            self.form.default_model = models[0]
        self.form.status = (
            f"Connection ok: {len(models)} model(s) in {health.latency_ms:.0f} ms. "
            "Pick the default model, then Register." + (f" Note: {advice}." if advice else "")
        )

    def register(self) -> bool:
        """Consume the key, validate the form and register; the Password field is emptied
        first, whatever happens next. Returns True when registration was started. After a
        failed Test connection of the same type and URL, the first press only asks to confirm
        (the key stays held), and a second press registers."""
        if self._needs_confirmation():
            self.form.status = (
                "The connection test failed for this provider. Press Register again to register it anyway."
            )
            self._confirming = True
            return False
        self._confirming = False
        key = self._take_key()
        self._hold("")
        gone = " The key was removed from the form: paste it again." if key else ""
        if self.job.running:
            self.form.status = "Still working on the previous request." + gone
            return False
        errors, config = check_form(self.form, key, self.manager, self.vault, for_register=True)
        self.form.errors = errors
        if config is None:
            self.form.status = "Nothing was registered." + gone
            return False
        keep = key if (self.form.store_in_vault and self.vault is not None and key) else None
        self.form.status = f"Registering {config.name!r} …"
        return self.job.start(self._register(config, keep))

    async def _register(self, config: ProviderConfig, key_to_store: str | None) -> None:
        if not config.api_key and self.vault is not None and self.manager.key_lookup is None:
            stored = await asyncio.to_thread(self.vault.retrieve, config.name)
            config = config.with_changes(api_key=stored) if stored else config
        try:
            with warnings.catch_warnings(record=True) as advice:
                warnings.simplefilter("always", BaseURLWarning)
                self.manager.register_provider(config)
        except ConfigError as exc:
            self.form.status = "Nothing was registered. The key was removed from the form."
            return self._fail(field_of(str(exc)), str(exc))
        if key_to_store is not None:
            try:
                await asyncio.to_thread(self.vault.store, config.name, key_to_store)
            except Exception as exc:  # roll back: a provider without its stored key is half-done
                await self.manager.unregister(config.name)
                self.form.status = "Nothing was registered."
                return self._fail("api_key", f"could not store the key in the DataVault: {type(exc).__name__}: {exc}")
        with self.form.hold_trait_notifications():
            self.form.name, self.form.default_model, self.form.models = "", "", []
            self.form.health = {**self.form.health, config.name: "checking"}
            self.form.revision += 1
        stored_note = " and stored its key in the DataVault" if key_to_store else ""
        note = "".join(f" Note: {w.message}." for w in advice if issubclass(w.category, BaseURLWarning))
        self._failed_test = None
        self.form.status = f"Registered {config.name!r}{stored_note}. The key is not kept in the form.{note}"
        await self._probe(config.name)

    async def _probe(self, name: str) -> None:
        provider = self.manager.get_provider(name)
        if provider is not None:
            self.form.health = {**self.form.health, name: health_text(await probe(provider, self.probe_timeout))}

    def set_default(self, name: str) -> None:
        """Make `name` the provider used when a call names none."""
        self.manager.set_default(name)
        self.form.status = f"{name!r} is now the default provider."
        self.refresh()

    def remove(self, name: str) -> bool:
        """Unregister `name` and close its connections (in the background)."""
        self.form.status = f"Removing {name!r} …"
        return self.job.start(self._remove(name))

    async def _remove(self, name: str) -> None:
        await self.manager.unregister(name)
        health = dict(self.form.health)
        health.pop(name, None)
        with self.form.hold_trait_notifications():
            self.form.health = health
            self.form.revision += 1
        self.form.status = f"Removed {name!r}."

    def save_profiles(self) -> Path | None:
        """Write the registered providers' profiles (no keys) to `profiles_path`."""
        try:
            path = save_profiles(self.manager, self.profiles_path)
        except (ConfigError, OSError) as exc:
            self._fail("form", f"saving profiles failed: {exc}")
            return None
        self.form.errors = {}
        self.form.status = f"Saved {len(self.manager.names)} provider profile(s) to {path} (no keys)."
        return path

    def load_profiles(self) -> bool:
        """Register the saved profiles (in the background); keys come from the vault or the environment."""
        self.form.status = "Loading saved profiles …"
        return self.job.start(self._load_profiles())

    async def _load_profiles(self) -> None:
        try:
            loaded, skipped = await load_profiles(self.manager, self.profiles_path)
        except ConfigError as exc:
            self._fail("form", str(exc))
            return
        self.form.revision += 1
        notes = "; ".join(f"{name}: {why}" for name, why in skipped.items())
        self.form.status = f"Loaded {', '.join(loaded) or 'no profiles'}." + (f" Not loaded: {notes}" if notes else "")

    def set_health(self, statuses: dict[str, Any]) -> None:
        """Show health results (HealthStatus per name) from elsewhere, e.g. the dashboard."""
        self.form.health = {**self.form.health, **{n: health_text(s) for n, s in statuses.items()}}

    def refresh(self) -> None:
        """Redraw the registered-providers table."""
        self.table.refresh(self.manager, self.form.health)

    def close(self) -> None:
        """Forget a held key, cancel running work, then close every widget in the panel."""
        self._held_key = ""
        super().close()

    @property
    def status(self) -> str:
        """The last status message, as plain text."""
        return self.form.status

    @property
    def errors(self) -> dict[str, str]:
        """Inline errors by field (name, base_url, api_key, default_model, limits, form)."""
        return dict(self.form.errors)

    @property
    def error(self) -> str:
        """All inline errors as one text ('' when there are none)."""
        return "\n".join(f"{field}: {text}" for field, text in self.form.errors.items())

    @property
    def providers(self) -> Any:
        """The registered-providers table as a DataFrame (never a key: `key` is yes/no)."""
        return self.table.rows
