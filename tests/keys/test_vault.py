"""DataVault: encryption round trips, failing closed on tampering, crash safety, locking, hygiene.

Most tests create vaults with tiny scrypt parameters through the documented hook
(`kdf_params=`), which is still checked against `DataVault.KDF_FLOOR`; the autouse
fixture lowers that floor. `test_real_default_kdf_parameters` runs the real OWASP cost.
"""

from __future__ import annotations

import ast
import fcntl
import logging
import multiprocessing
import os
import pickle
import signal
import stat
import subprocess
import sys
import textwrap
import time
import traceback
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import closedpaw_nb
from closedpaw_nb import ConfigError, ProviderConfig, ProviderManager
from closedpaw_nb.errors import VaultError, VaultFormatError, VaultLockedError, VaultPasswordError
from closedpaw_nb.keys.vault import _HEADER, PASSPHRASE_ENV, DataVault, KeyringVault, ScryptParams
from closedpaw_nb.transport.redact import redact

PASS = "correct horse battery staple CANARY-PASS-7f3a9"
CANARY = "sk-test-CANARY-vault-5b8c2e0d91aa"
CHEAP = ScryptParams(2**4, 8, 1)
CHEAP_FLOOR = ScryptParams(2, 1, 1)
REPO = str(Path(closedpaw_nb.__file__).resolve().parent.parent)


@pytest.fixture(autouse=True)
def cheap_floor(monkeypatch):
    """Lower the KDF floor so tests may use CHEAP; the real default still passes it."""
    monkeypatch.setattr(DataVault, "KDF_FLOOR", CHEAP_FLOOR)
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "vaultdir" / "vault.bin"


def make(path, passphrase=PASS, **kwargs):
    return DataVault(path, passphrase, kdf_params=CHEAP, **kwargs)


def snapshot(path):
    st_ = os.stat(path)
    return path.read_bytes(), st_.st_mtime_ns, stat.S_IMODE(st_.st_mode), sorted(os.listdir(path.parent))


def temp_files(path):
    return sorted(path.parent.glob("*.tmp"))


def flip(blob, bit):
    data = bytearray(blob)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


# -- basic behaviour ------------------------------------------------------------------------


def test_round_trip_across_instances(path):
    vault = make(path)
    assert not path.exists() and vault.list() == [] and vault.retrieve("openai") is None
    assert vault._passphrase is not None  # kept: another notebook may create the file first
    vault.store("openai", CANARY)
    vault.store("anthropic", "sk-ant-first-0123456789")
    vault.store("anthropic", "sk-ant-second-0123456789")  # replaces
    assert vault._passphrase is None  # dropped once the file on disk is under a held key
    assert CANARY.encode() not in path.read_bytes() and b"openai" not in path.read_bytes()
    reopened = DataVault(path, PASS)  # params come from the file's header
    assert reopened._passphrase is None
    assert reopened.path == path
    assert reopened.retrieve("openai") == CANARY
    assert reopened.retrieve("anthropic") == "sk-ant-second-0123456789"
    assert reopened.retrieve("missing") is None
    assert "openai" in reopened and "missing" not in reopened and 42 not in reopened


def test_list_and_delete(path):
    vault = make(path)
    for name in ("b", "a", "c"):
        vault.store(name, f"sk-{name}-0123456789")
    assert vault.list() == ["a", "b", "c"]
    assert vault.delete("b") is True and vault.delete("b") is False
    assert vault.list() == ["a", "c"] and make(path).list() == ["a", "c"]
    assert make(path).delete("never-stored") is False


def test_real_default_kdf_parameters(path, monkeypatch):
    monkeypatch.setattr(DataVault, "KDF_FLOOR", ScryptParams(2**17, 8, 1))
    started = time.perf_counter()
    DataVault(path, PASS).store("openai", CANARY)
    assert DataVault(path, PASS).retrieve("openai") == CANARY
    _, version, kdf_id, n, r, p, salt, nonce, _ = _HEADER.unpack_from(path.read_bytes())
    assert (version, kdf_id, n, r, p) == (1, 1, 2**17, 8, 1) and len(salt) == 16 and len(nonce) == 12
    assert time.perf_counter() - started < 30  # two derivations, ~0.4 s each here


def test_each_write_keeps_the_salt_and_draws_a_fresh_nonce(path):
    vault = make(path)
    headers = []
    for i in range(3):
        vault.store("k", f"sk-value-{i}-0123456789")
        headers.append(_HEADER.unpack_from(path.read_bytes()))
    assert len({h[6] for h in headers}) == 1  # salt
    assert len({h[7] for h in headers}) == 3  # nonce


def test_passphrase_from_env_and_a_clear_error_without_one(path, monkeypatch):
    with pytest.raises(VaultError, match=rf"getpass\.getpass.*{PASSPHRASE_ENV}"):
        DataVault(path)
    with pytest.raises(VaultError, match="passphrase"):
        DataVault(path, "")
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    DataVault(path, kdf_params=CHEAP).store("x", "sk-x-0123456789")
    assert DataVault(path, PASS).retrieve("x") == "sk-x-0123456789"


def test_default_path_is_in_the_user_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    vault = DataVault(passphrase=PASS, kdf_params=CHEAP)
    assert vault.path == tmp_path / "cfg" / "closedpaw_nb" / "vault.bin"
    vault.store("x", "sk-x-0123456789")
    assert vault.path.exists()


@pytest.mark.parametrize(
    "name, key", [("", "k"), ("   ", "k"), (None, "k"), (3, "k"), ("n", ""), ("n", None), ("n", b"bytes")]
)
def test_bad_names_and_keys_are_clear_errors(path, name, key):
    with pytest.raises(ConfigError, match="non-empty str"):
        make(path).store(name, key)
    assert not path.exists()


def test_weak_kdf_params_argument_is_refused(path, monkeypatch):
    monkeypatch.setattr(DataVault, "KDF_FLOOR", ScryptParams(2**17, 8, 1))
    with pytest.raises(VaultFormatError, match="below the safe floor"):
        DataVault(path, PASS, kdf_params=ScryptParams(2**10, 8, 1))
    with pytest.raises(VaultFormatError, match="power of two"):
        DataVault(path, PASS, kdf_params=ScryptParams(3 * 2**17, 8, 1))


def test_a_second_notebook_that_opened_an_absent_vault_adopts_the_first_ones_file(path):
    first, second = make(path), make(path)  # both drew their own salt
    first.store("a", "sk-a-0123456789")
    second.store("b", "sk-b-0123456789")  # re-reads under the lock, derives for the file's salt
    assert make(path).list() == ["a", "b"]


def test_vault_cannot_be_pickled(path):
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(make(path))


# -- wrong passphrase and tampering ---------------------------------------------------------


def test_wrong_passphrase_fails_closed_and_touches_nothing(path, caplog):
    caplog.set_level(logging.DEBUG)
    make(path).store("openai", CANARY)
    before = snapshot(path)
    wrong = "not-the-passphrase-CANARY-WRONG-11"
    with pytest.raises(VaultPasswordError) as info:
        DataVault(path, wrong)
    assert str(info.value) == "wrong passphrase or the vault file was modified"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    text = "".join(traceback.format_exception(info.value)) + repr(info.value)
    for secret in (wrong, PASS, CANARY):
        assert secret not in text and secret not in caplog.text
    assert snapshot(path) == before and temp_files(path) == []


@pytest.fixture
def sample(path, monkeypatch):
    """A small valid vault; KDF_MAX_WORK is lowered so flipped cost bits stay cheap to try."""
    monkeypatch.setattr(DataVault, "KDF_MAX_WORK", 2**12)
    vault = make(path)
    vault.store("openai", CANARY)
    vault.store("mistral", "sk-mistral-0123456789")
    return path, path.read_bytes()


def assert_fails_closed(path, blob):
    path.write_bytes(blob)
    with pytest.raises((VaultPasswordError, VaultFormatError)):
        DataVault(path, PASS)
    assert path.read_bytes() == blob and temp_files(path) == []


# The sample fixture is built once and only read; each example writes its own copy.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_bit_flip_fails_closed(sample, data):
    path, blob = sample
    bit = data.draw(st.integers(0, len(blob) * 8 - 1), label="bit")
    assert_fails_closed(path.with_name("flipped.bin"), flip(blob, bit))


def test_every_single_bit_flip_fails_closed_exhaustively(sample):
    path, blob = sample
    for bit in range(len(blob) * 8):
        assert_fails_closed(path.with_name("flipped.bin"), flip(blob, bit))


@pytest.fixture(scope="module")
def real_blob(tmp_path_factory):
    """A vault file made once with the real default KDF parameters (the real floor applies)."""
    path = tmp_path_factory.mktemp("real") / "vault.bin"
    DataVault(path, PASS).store("openai", CANARY)
    return path.read_bytes()


def _set_params(blob, n, r, p):
    fields = list(_HEADER.unpack_from(blob))
    fields[3:6] = n, r, p
    return _HEADER.pack(*fields) + blob[_HEADER.size :]


WRONG, FORMAT = VaultPasswordError, VaultFormatError


@pytest.mark.parametrize(
    "tamper, error, message",
    [
        pytest.param(lambda b: flip(b, 30 * 8), WRONG, "wrong passphrase", id="salt-bit"),
        pytest.param(lambda b: flip(b, 45 * 8 + 3), WRONG, "wrong passphrase", id="nonce-bit"),
        pytest.param(lambda b: flip(b, 60 * 8), WRONG, "wrong passphrase", id="ciphertext-bit"),
        pytest.param(lambda b: flip(b, len(b) * 8 - 1), WRONG, "wrong passphrase", id="tag-bit"),
        pytest.param(lambda b: b[:-1], FORMAT, "truncated", id="truncated-by-1"),
        pytest.param(lambda b: b[: _HEADER.size + 3], FORMAT, "truncated", id="truncated-after-header"),
        pytest.param(lambda b: b[:20], FORMAT, "not a closedpaw_nb vault", id="truncated-header"),
        pytest.param(lambda b: b"", FORMAT, "not a closedpaw_nb vault", id="empty"),
        pytest.param(lambda b: b + b"\0", FORMAT, "trailing", id="trailing-byte"),
        pytest.param(lambda b: b"XX" + b[2:], FORMAT, "not a closedpaw_nb vault", id="magic"),
        pytest.param(lambda b: b'{"keys": {"openai": "sk-x"}}', FORMAT, "not a closedpaw_nb vault", id="json"),
        pytest.param(lambda b: b[:8] + b"\x02" + b[9:], FORMAT, "version 2 is not supported", id="version"),
        pytest.param(lambda b: b[:9] + b"\x07" + b[10:], FORMAT, "unknown KDF", id="kdf-id"),
        pytest.param(lambda b: _set_params(b, 2**10, 8, 1), FORMAT, "below the safe floor", id="low-n"),
        pytest.param(lambda b: _set_params(b, 2**17, 1, 1), FORMAT, "below the safe floor", id="low-r"),
        pytest.param(lambda b: _set_params(b, 2**17, 8, 0), FORMAT, "below the safe floor", id="zero-p"),
        pytest.param(lambda b: _set_params(b, 2**17 + 1, 8, 1), FORMAT, "power of two", id="n-not-pow2"),
        pytest.param(lambda b: _set_params(b, 2**30, 8, 1), FORMAT, "work ceiling", id="huge-n"),
        pytest.param(lambda b: _set_params(b, 2**17, 8, 2**20), FORMAT, "work ceiling", id="huge-p"),
    ],
)
def test_explicit_tampering_fails_closed(path, real_blob, monkeypatch, tamper, error, message):
    monkeypatch.setattr(DataVault, "KDF_FLOOR", ScryptParams(2**17, 8, 1))  # the real floor
    derivations = []
    real_derive = DataVault._derive
    monkeypatch.setattr(DataVault, "_derive", lambda self, kdf: derivations.append(kdf) or real_derive(self, kdf))
    path.parent.mkdir()
    path.write_bytes(tamper(real_blob))
    before = snapshot(path)
    with pytest.raises(error, match=message):
        DataVault(path, PASS)
    assert snapshot(path) == before and temp_files(path) == []
    assert len(derivations) == (1 if error is WRONG else 0)  # bad headers cost no scrypt run


def test_an_open_vault_refuses_to_write_over_a_tampered_file(sample):
    path, blob = sample
    vault = DataVault(path, PASS)
    for bad in (flip(blob, 60 * 8), blob[:-4], flip(blob, 30 * 8)):
        path.write_bytes(bad)
        before = snapshot(path)
        with pytest.raises((VaultPasswordError, VaultFormatError)):
            vault.store("new", "sk-new-0123456789")
        with pytest.raises((VaultPasswordError, VaultFormatError)):
            vault.retrieve("openai")
        assert snapshot(path) == before and temp_files(path) == []
    assert repr(vault) == f"DataVault(path={str(path)!r}, entries=?)"


def test_a_file_recreated_under_a_new_salt_needs_the_passphrase_again(path):
    vault = make(path)
    vault.store("a", "sk-a-0123456789")
    path.unlink()
    make(path).store("b", "sk-b-0123456789")  # same passphrase, new salt
    with pytest.raises(VaultPasswordError, match="open it again"):
        vault.retrieve("b")
    assert make(path).retrieve("b") == "sk-b-0123456789"


# -- crash safety, modes, locking -----------------------------------------------------------


def test_failed_replace_keeps_the_old_vault_and_no_temp_file(path, monkeypatch):
    make(path).store("openai", CANARY)
    before = snapshot(path)

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", boom)
        with pytest.raises(VaultError, match="could not write the vault.*No space left"):
            make(path).store("anthropic", "sk-ant-0123456789")
    assert snapshot(path) == before and temp_files(path) == []
    assert DataVault(path, PASS).list() == ["openai"]


CHILD = textwrap.dedent("""
    import os, sys, time
    from closedpaw_nb.keys.vault import DataVault, ScryptParams
    DataVault.KDF_FLOOR = ScryptParams(2, 1, 1)
    path, marker = sys.argv[1], sys.argv[2]

    def stall(src, dst):  # we are past write+flush+fsync of the temp file: wait to be killed
        open(marker, "w").close()
        time.sleep(120)

    os.replace = stall
    DataVault(path).store("new", "sk-new-0123456789")
""")


def test_sigkill_between_fsync_and_replace_keeps_the_old_vault(path):
    make(path).store("openai", CANARY)
    before = snapshot(path)
    marker = path.parent.parent / "at-replace"
    env = {**os.environ, PASSPHRASE_ENV: PASS, "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(marker)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None and time.monotonic() < deadline, "child never reached os.replace"
            time.sleep(0.02)
        [leftover] = temp_files(path)
        assert leftover.stat().st_size > _HEADER.size  # complete, fsynced, not yet renamed
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert path.read_bytes() == before[0] and leftover.exists()
    reopened = DataVault(path, PASS)  # opening sweeps the crash leftover
    assert reopened.list() == ["openai"] and not leftover.exists()


def test_stale_temp_file_is_ignored_and_swept(path):
    make(path).store("openai", CANARY)
    stale = path.parent / ".vault.bin.crashed.tmp"
    stale.write_bytes(b"half a vault")
    assert DataVault(path, PASS).list() == ["openai"] and not stale.exists()
    stale.write_bytes(b"half a vault")
    make(path).store("x", "sk-x-0123456789")  # every write sweeps too
    assert not stale.exists()


def test_files_are_0600_whatever_the_umask(path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old = os.umask(0)
    try:
        vault = make(path)
        vault.store("a", "sk-a-0123456789")
        vault.store("b", "sk-b-0123456789")
    finally:
        os.umask(old)
    assert seen == [0o600, 0o600]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(f"{path}.lock").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def _store_many(path, prefix, barrier):
    """Runs in a spawned process: the fixture's floor does not cross the process boundary."""
    DataVault.KDF_FLOOR = CHEAP_FLOOR
    vault = DataVault(path, PASS, kdf_params=CHEAP)
    barrier.wait(timeout=60)
    for i in range(15):
        vault.store(f"{prefix}{i}", f"sk-{prefix}-{i}-0123456789")


def test_two_processes_storing_at_once_lose_nothing(path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_store_many, args=(str(path), prefix, barrier)) for prefix in "ab"]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=90)
        assert [w.exitcode for w in workers] == [0, 0]
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
    vault = DataVault(path, PASS)
    assert vault.list() == sorted(f"{p}{i}" for p in "ab" for i in range(15))
    assert vault.retrieve("b7") == "sk-b-7-0123456789"


def test_a_held_lock_times_out_as_vault_locked_error(path):
    make(path).store("a", "sk-a-0123456789")
    holder = os.open(f"{path}.lock", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # as another process's write would
    try:
        vault = make(path, lock_timeout=0.2)  # opening does not wait for the lock
        started = time.perf_counter()
        with pytest.raises(VaultLockedError, match="another process"):
            vault.store("b", "sk-b-0123456789")
        assert 0.2 <= time.perf_counter() - started < 2
        assert vault.retrieve("a") == "sk-a-0123456789"  # readers take no lock
    finally:
        os.close(holder)
    vault.store("b", "sk-b-0123456789")
    assert vault.list() == ["a", "b"]


HOLDER = textwrap.dedent("""
    import sys, time, filelock
    lock = filelock.FileLock(sys.argv[1])
    lock.acquire()
    open(sys.argv[2], "w").close()
    time.sleep(120)  # killed by the test, still holding the lock
""")


def test_a_lock_held_by_another_process_times_out_and_dies_with_it(path):
    make(path).store("a", "sk-a-0123456789")
    marker = path.parent.parent / "holding"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, f"{path}.lock", str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert holder.poll() is None and time.monotonic() < deadline, "the holder never took the lock"
            time.sleep(0.02)
        for timeout in (0.2, -1):  # a negative timeout is one attempt, not "wait forever"
            started = time.perf_counter()
            with pytest.raises(VaultLockedError, match="another process is writing"):
                make(path, lock_timeout=timeout).store("b", "sk-b-0123456789")
            assert time.perf_counter() - started < 2
    finally:
        holder.kill()
        holder.wait(timeout=30)
    make(path, lock_timeout=5).store("b", "sk-b-0123456789")  # the OS dropped the dead holder's lock
    assert make(path).list() == ["a", "b"]


NO_FCNTL = textwrap.dedent("""
    import sys, warnings
    sys.modules["fcntl"] = None  # as on Windows: `import fcntl` fails
    warnings.simplefilter("ignore")  # filelock says only its soft lock is left on this Unix
    from closedpaw_nb.keys.vault import DataVault, ScryptParams
    DataVault.KDF_FLOOR = ScryptParams(2, 1, 1)
    DataVault(sys.argv[1], "pw", kdf_params=ScryptParams(16, 8, 1)).store("a", "sk-a-0123456789")
    assert DataVault(sys.argv[1], "pw").retrieve("a") == "sk-a-0123456789"
""")


def test_the_vault_does_not_need_fcntl(path):
    """Windows has no fcntl: the module must not import it, and the vault must work without it."""
    source = Path(sys.modules[DataVault.__module__].__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.partition(".")[0])
    assert "filelock" in imported and not imported & {"fcntl", "msvcrt"}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", NO_FCNTL, str(path)], env=env, check=True, timeout=60)


def test_import_closedpaw_nb_does_not_load_the_vault_or_filelock():
    code = (
        "import sys, closedpaw_nb; "
        "assert not {'filelock', 'closedpaw_nb.keys.vault'} & set(sys.modules), sorted(sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


# -- secret hygiene and integration ---------------------------------------------------------


def test_canary_never_appears_in_repr_logs_or_errors(path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    vault = make(path)
    vault.store("openai", CANARY)
    assert vault.retrieve("openai") == CANARY and "openai" in vault and vault.list() == ["openai"]
    vault.delete("openai")
    vault.store("openai", CANARY)
    errors = []
    for action in (
        lambda: vault.store("", CANARY),
        lambda: vault.store("openai", ""),
        lambda: DataVault(path, CANARY),
        lambda: DataVault(path, PASS + "x"),
    ):
        with pytest.raises(Exception) as info:
            action()
        errors.append(info.value)
    with monkeypatch.context() as patch, pytest.raises(VaultError) as info:
        patch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError(5, "I/O error")))
        vault.store("other", CANARY)
    errors.append(info.value)
    texts = [repr(vault), str(vault), f"{vault}", caplog.text]
    texts += ["".join(traceback.format_exception(e)) + repr(e) + str(e) for e in errors]
    texts += [r.getMessage() + repr(r.args) for r in caplog.records]
    for text in texts:
        assert CANARY not in text and PASS not in text
    assert repr(vault) == f"DataVault(path={str(path)!r}, entries=1)"
    assert any("stored 'openai'" in r.getMessage() for r in caplog.records)


def test_retrieve_registers_the_key_for_redaction(path, monkeypatch):
    other = "zz-unshaped-secret-value-913"  # not key-shaped: only registration can mask it
    registered = []
    with monkeypatch.context() as patch:
        patch.setattr("closedpaw_nb.keys.vault.register_secret", registered.append)
        make(path).store("custom", other)
        registered.clear()
        assert DataVault(path, PASS).retrieve("custom") == other
        assert DataVault(path, PASS).retrieve("missing") is None
    assert registered == [other]
    DataVault(path, PASS).retrieve("custom")
    assert redact(f"echo {other} back") == "echo *** back"


def test_vault_plugs_into_provider_manager(path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    vault = make(path)
    vault.store("openai", CANARY)
    manager = ProviderManager(key_lookup=vault.retrieve)
    provider = manager.register_provider(ProviderConfig("openai"))
    assert provider.config.api_key.reveal() == CANARY
    assert CANARY not in repr(manager.get_status()) and CANARY not in repr(manager)


# -- KeyringVault ---------------------------------------------------------------------------


def test_keyring_vault_names_pip_install_when_keyring_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", None)  # makes `import keyring` fail
    with pytest.raises(VaultError, match="pip install keyring"):
        KeyringVault()


def _fake_keyring(priority):
    store = {}
    backend = types.SimpleNamespace(priority=priority)
    return types.SimpleNamespace(
        get_keyring=lambda: backend,
        set_password=lambda s, u, p: store.__setitem__((s, u), p),
        get_password=lambda s, u: store.get((s, u)),
        delete_password=lambda s, u: store.pop((s, u)),
    )


def exercise_keyring_vault(vault):
    assert vault.list() == [] and vault.retrieve("openai") is None
    vault.store("openai", CANARY)
    vault.store("mistral", "sk-mistral-0123456789")
    vault.store("openai", CANARY)
    assert vault.list() == ["mistral", "openai"] and "openai" in vault
    assert vault.retrieve("openai") == CANARY and CANARY not in repr(vault)
    assert vault.delete("openai") is True and vault.delete("openai") is False
    assert vault.list() == ["mistral"] and vault.retrieve("openai") is None
    with pytest.raises(ConfigError, match="reserved"):
        vault.store(KeyringVault.INDEX, "x-0123456789")
    with pytest.raises(ConfigError, match="non-empty str"):
        vault.store("", "x-0123456789")


def test_keyring_vault_logic_over_a_stand_in_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", _fake_keyring(priority=1))
    exercise_keyring_vault(KeyringVault(service="closedpaw-test"))
    monkeypatch.setitem(sys.modules, "keyring", _fake_keyring(priority=0))
    with pytest.raises(VaultError, match="no usable OS backend"):
        KeyringVault()


def test_keyring_vault_with_the_real_package_and_a_memory_backend(monkeypatch):
    keyring = pytest.importorskip("keyring", reason="keyring is optional and not installed here")
    from keyring.backend import KeyringBackend
    from keyring.backends import fail

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def __init__(self):
            super().__init__()
            self.entries = {}

        def get_password(self, service, username):
            return self.entries.get((service, username))

        def set_password(self, service, username, password):
            self.entries[(service, username)] = password

        def delete_password(self, service, username):
            del self.entries[(service, username)]

    previous = keyring.get_keyring()
    try:
        keyring.set_keyring(MemoryKeyring())
        exercise_keyring_vault(KeyringVault(service="closedpaw-test"))
        keyring.set_keyring(fail.Keyring())
        with pytest.raises(VaultError, match="no usable OS backend"):
            KeyringVault()
    finally:
        keyring.set_keyring(previous)
