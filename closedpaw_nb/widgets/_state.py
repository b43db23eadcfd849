"""What each panel knows, as plain traitlets objects: no widgets, no I/O.

The panels link their widgets to these traits and the background work writes to them,
so the same state can be driven from a test, a view, or the runner thread. None of
these objects has a trait for an API key: the key lives only in the Password widget
until Register consumes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from traitlets import Bool, Dict, Float, HasTraits, Instance, Int, List, Unicode

from ..types import ProviderType

__all__ = [
    "ArenaForm",
    "BenchmarkForm",
    "CompareForm",
    "FieldRules",
    "HealthBoard",
    "RegistrationForm",
    "TargetColumn",
    "field_rules",
]


@dataclass(frozen=True)
class FieldRules:
    """Which registration fields a provider type shows and requires.

    Attributes:
        show_key: The key field is shown (cloud providers, and custom endpoints).
        needs_key: A key is required (typed, in the vault, or in `env_vars`).
        needs_base_url: The base URL is required (no default).
        default_base_url: Pre-filled into the base URL field.
        env_vars: Environment variables the provider reads its key from.
    """

    show_key: bool
    needs_key: bool
    needs_base_url: bool
    default_base_url: str
    env_vars: tuple[str, ...]

    @property
    def key_placeholder(self) -> str:
        """What the empty key field says."""
        return "paste the key" if self.needs_key else "optional"


def field_rules(provider_type: ProviderType | str) -> FieldRules:
    """The form rules for `provider_type`, read from the provider class's attributes."""
    from ..providers import provider_class

    cls = provider_class(ProviderType(provider_type))
    default = cls.official_base_url() or ""
    # Custom endpoints may sit behind a key even though none is required.
    return FieldRules(
        cls.needs_api_key or cls.needs_base_url,
        cls.needs_api_key,
        cls.needs_base_url,
        default,
        tuple(cls.env_api_key if cls.needs_api_key else ()),
    )


class RegistrationForm(HasTraits):
    """The registration form's fields, errors and the registered providers' health."""

    provider_type = Unicode(ProviderType.OPENAI.value)
    name = Unicode("")
    base_url = Unicode("")
    default_model = Unicode("")
    models = List(Unicode(), help="Model ids found by the last Test connection.")
    rate_limit = Int(0, help="Requests per minute; 0 means no client-side limit.")
    timeout = Float(600.0, help="Read timeout in seconds for generation calls.")
    store_in_vault = Bool(False)
    errors = Dict(help="Field name -> inline error message.")
    status = Unicode("")
    busy = Bool(False)
    health = Dict(help="Provider name -> last probe, as a short text.")
    revision = Int(0, help="Bumped whenever the set of registered providers changes.")


class TargetColumn(HasTraits):
    """One target's live answer in a comparison."""

    target = Unicode("")
    phase = Unicode("waiting", help="waiting, streaming, done, error or cancelled.")
    text = Unicode("")
    chunks = Int(0, help="Stream chunks so far (a live count; tokens come from usage).")
    elapsed_ms = Float(0.0)
    ttft_ms = Float(None, allow_none=True)
    latency_ms = Float(None, allow_none=True)
    tokens = Int(None, allow_none=True, help="Completion tokens as the provider reported them.")
    tokens_per_s = Float(None, allow_none=True)
    cost_usd = Float(None, allow_none=True)
    error = Unicode("")
    tool_calls = Unicode("", help="The answer's tool calls, one readable line each.")
    parsed = Unicode("", help="The decoded structured answer as indented JSON ('' without a format).")
    score = Float(None, allow_none=True, help="The answer's score in [0, 1] (None: not scored, or missing).")
    score_note = Unicode("", help="The scorer's name and explanation ('' when there is nothing to score).")


class CompareForm(HasTraits):
    """The comparison's inputs and its columns."""

    prompt = Unicode("")
    system = Unicode("")
    targets = List(Unicode())
    temperature = Float(0.7)
    max_tokens = Int(256)
    expected = Unicode("", help="The expected answer; '' means the answers are not scored.")
    scorer = Unicode("includes", help="How answers are scored against `expected` (a SCORERS name).")
    running = Bool(False)
    status = Unicode("")
    error = Unicode("")
    columns = List(Instance(TargetColumn))


class HealthBoard(HasTraits):
    """The last health check, the running history and auto-refresh settings."""

    latest = List(Dict(), help="One row per provider from the last check.")
    history = List(Dict(), help="Every probe so far: provider, checked_at, status, latency_ms, ...")
    checks = Int(0, help="How many checks have completed.")
    checking = Bool(False)
    auto_refresh = Bool(False)
    interval = Float(30.0, help="Seconds between automatic checks.")
    status = Unicode("")
    error = Unicode("")


class RunForm(HasTraits):
    """What every panel that runs targets into the run store shows: targets, live progress,
    the run, its status and the files exported."""

    targets = List(Unicode())
    total = Int(0, help="Calls to make in this run.")
    done = Int(0)
    ok = Int(0)
    errors = Int(0)
    running = Bool(False)
    run_id = Unicode("")
    status = Unicode("")
    error = Unicode("")
    export_dir = Unicode("", help="Where exports go; the panels fill in `default_output_dir()`.")
    exported = List(Unicode())


class BenchmarkForm(RunForm):
    """The benchmark's inputs, live progress and exports."""

    prompts_text = Unicode("", help="One prompt per line.")
    use_source = Bool(False, help="Use the prompts passed to the panel instead of the text.")
    trials = Int(3)
    concurrency = Int(4)
    warmup = Int(1)
    all_columns = Bool(False, help="Show every summary column, not only the everyday ones.")
    expected_text = Unicode("", help="Expected answers to score the run by: one line per prompt, in order.")
    scorer = Unicode("includes", help="How the run's answers are scored (a SCORERS name).")


class ArenaForm(HasTraits):
    """The arena panel: which run to open, the battle shown (labelled only A and B), the
    voter's progress, the reveal after a vote, and the ranking.

    No trait holds a battle's targets before its vote: `reveal` is set only by the vote, so
    whatever renders this state cannot leak who is behind A and B.
    """

    runs = List(Dict(), help="The store's runs, newest first: run_id, created_at, status, rows.")
    run_id = Unicode("", help="The run to open an arena on.")
    pairs = Unicode("all", help='"all" pairs of targets per item, or "adjacent" targets only.')
    voter = Unicode("you", help="Whose votes are cast and counted in the progress.")
    arena_id = Unicode("", help="The open arena ('' before one is opened).")
    phase = Unicode("closed", help="closed (no arena), voting, revealed (voted; Next shows the next) or done.")
    prompt = Unicode("")
    answer_a = Unicode("", help="The answer shown as A.")
    answer_b = Unicode("", help="The answer shown as B.")
    total = Int(0, help="Battles in the arena.")
    voted = Int(0, help="Battles the voter has voted on.")
    reveal = Unicode("", help="Who was A and B, and the vote; set only once the battle is voted.")
    rows = List(Dict(), help="The ranking, one dict per target, best first.")
    busy = Bool(False, help="Opening an arena or computing the ranking.")
    status = Unicode("")
    error = Unicode("")
