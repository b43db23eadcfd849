"""The public surface is deliberate: `__all__` is pinned, and import is cheap and offline."""

from __future__ import annotations

import subprocess
import sys

import closedpaw_nb

PUBLIC = {
    "BaseProvider",
    "ChatMessage",
    "ChatOptions",
    "ChatResponse",
    "ChatStream",
    "ClosedPawError",
    "ConfigError",
    "HealthState",
    "HealthStatus",
    "ModelInfo",
    "ProviderConfig",
    "ProviderError",
    "ProviderManager",
    "ProviderType",
    "Secret",
    "Usage",
    "__version__",
    "get_provider_manager",
    "TextPart",
    "ImagePart",
    "image",
    "Tool",
    "ToolCall",
    "BenchmarkResult",
    "CompareResult",
    "DataVault",
    "KeyringVault",
    "RateLimiter",
    "RetryPolicy",
    "RunStore",
    "register",
    "chat",
    "achat",
    "stream",
    "compare",
    "acompare",
    "benchmark",
    "abenchmark",
    "resume",
    "aresume",
    "models",
    "amodels",
    "health",
    "ahealth",
    "EvalResult",
    "evaluate",
    "aevaluate",
    "Arena",
    "arena",
    "aarena",
    "runs",
    "last_run",
    "read_results",
    "RunInterrupted",
    "save_profiles",
    "load_profiles",
    "run_tools",
    "arun_tools",
}


def test_all_is_pinned():
    assert set(closedpaw_nb.__all__) == PUBLIC
    for name in closedpaw_nb.__all__:
        assert hasattr(closedpaw_nb, name)


def test_provider_type_values_match_the_seed():
    assert [t.value for t in closedpaw_nb.ProviderType] == [
        "ollama",
        "openai",
        "anthropic",
        "google",
        "mistral",
        "custom",
    ]


def test_import_opens_no_socket_and_loads_no_heavy_modules():
    code = (
        "import sys, socket\n"
        "def audit(event, args):\n"
        "    if event == 'socket.connect': raise SystemExit('connected at import: %r' % (args,))\n"
        "sys.addaudithook(audit)\n"
        "import closedpaw_nb\n"
        "closedpaw_nb.get_provider_manager()\n"
        "heavy = [m for m in ('pandas', 'ipywidgets', 'matplotlib', 'starlette', 'uvicorn', 'cryptography',\n"
        "                     'pydantic', 'PIL', 'jsonschema')\n"
        "         if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_serve_command_dispatches_to_the_server_cli(monkeypatch):
    import closedpaw_nb.server.cli as cli
    from closedpaw_nb.__main__ import main

    seen = []
    monkeypatch.setattr(cli, "serve", lambda argv: seen.append(argv) or 0)
    assert main(["serve", "--port", "0"]) == 0 and seen == [["--port", "0"]]
