"""`DataVault`: API keys in one passphrase-encrypted file; `KeyringVault`: the OS keyring.

File layout, version 1 (integers big-endian). Bytes 0-53 are the header; the whole
header is the AES-GCM associated data, so no header byte can change undetected:

    offset size  field
     0      8    magic b"CPNBVLT\\0"
     8      1    format version (1)
     9      1    KDF id (1 = scrypt)
    10     12    scrypt n, r, p (3 x uint32)
    22     16    salt (kept for the file's life, so one derived key serves every write)
    38     12    nonce (fresh on every write)
    50      4    length of what follows (so a truncated file is a format error)
    54      -    AES-256-GCM ciphertext + 16-byte tag of UTF-8 JSON {"keys": {name: key}}

What it does not detect: rollback. The file carries no counter or timestamp that is
checked against anything outside it, so a complete older copy of the vault (a backup,
an earlier sync, a file put back by someone with write access to it) opens as valid,
with the keys it held then; a key deleted or rotated since comes back. Tampering with
any byte, truncation, and mixing parts of two files are detected; replacing the whole
file with an authentic older one is not, and cannot be without state kept elsewhere.
Protect the file's location (it is written 0600), and rotate a leaked key at the
provider rather than only deleting it here.

scrypt, not Argon2id: cryptography>=42 (our floor) has scrypt on every build, while its
Argon2id exists only in newer releases built on OpenSSL>=3.2. The KDF id leaves room.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import struct
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, NoReturn

import filelock
import platformdirs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import ConfigError, VaultError, VaultFormatError, VaultLockedError, VaultPasswordError
from ..transport.redact import get_logger, register_secret

__all__ = ["PASSPHRASE_ENV", "DataVault", "KeyringVault", "ScryptParams", "default_vault_path"]

log = get_logger("closedpaw_nb.keys.vault")

PASSPHRASE_ENV = "CLOSEDPAW_VAULT_PASSPHRASE"
MAGIC, VERSION, KDF_SCRYPT = b"CPNBVLT\x00", 1, 1
_HEADER = struct.Struct(">8sBBIII16s12sI")
_TAG = 16
_BAD = "wrong passphrase or the vault file was modified"


class ScryptParams(NamedTuple):
    """scrypt cost: n (CPU/memory, a power of two), r (block size), p (parallelism)."""

    n: int
    r: int
    p: int


_Kdf = tuple[ScryptParams, bytes]  # (parameters, salt): all that a derived key depends on


class DataVault:
    """An encrypted, persistent store of API keys that several notebooks can share.

    Args:
        path: The vault file; default `vault.bin` in the user's config directory.
        passphrase: Unlocks the vault; default the `CLOSEDPAW_VAULT_PASSPHRASE` variable.
            In a notebook pass `getpass.getpass()` so it is never typed into a cell.
        kdf_params: scrypt cost for a *new* file (an existing file keeps its own). Test
            hook: it must still meet `KDF_FLOOR`, which tests lower to go fast.
        lock_timeout: Seconds to wait for another process's write (VaultLockedError after).

    Raises:
        VaultError: No passphrase was given.
        VaultPasswordError: The passphrase does not open the existing file.
        VaultFormatError: The file is not a vault, or its KDF parameters are out of bounds.
    """

    KDF_DEFAULT = ScryptParams(2**17, 8, 1)  # OWASP's scrypt minimum: 128 MiB, ~0.4 s
    KDF_FLOOR = ScryptParams(2**17, 8, 1)  # a header below this is a downgrade attempt
    KDF_MAX_WORK = 2**22  # n*r*p ceiling (512 MiB): a tampered header cannot exhaust memory

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        passphrase: str | None = None,
        *,
        kdf_params: ScryptParams | None = None,
        lock_timeout: float = 10.0,
    ) -> None:
        self._path = Path(path) if path is not None else default_vault_path()
        self._lock_timeout = lock_timeout
        self._keys: dict[_Kdf, bytes] = {}
        # Held only until a key has opened (or written) the file on disk: until then another
        # notebook may create the file with its own salt, and only the passphrase derives that.
        self._passphrase: str | None = _resolve_passphrase(passphrase)
        blob = self._read()
        if blob is None:
            self._kdf = (self._checked(ScryptParams(*(kdf_params or self.KDF_DEFAULT))), os.urandom(16))
            self._keys[self._kdf] = self._derive(self._kdf)
        else:
            self._open(blob)  # a wrong passphrase fails here, not at the first retrieve
            with contextlib.suppress(VaultLockedError, OSError), self._locked(timeout=0):
                pass  # taking the lock sweeps temp files a crashed writer left

    @property
    def path(self) -> Path:
        """The vault file."""
        return self._path

    def store(self, name: str, key: str) -> None:
        """Add or replace the key stored under `name`, creating the file on first use.

        Raises:
            ConfigError: `name` or `key` is not a non-empty str.
            VaultLockedError: Another process held the lock past `lock_timeout`.
            VaultPasswordError, VaultFormatError: The file no longer opens (left as it is).
        """
        _check_entry(name, key)
        self._update(name, key)
        log.debug("vault %s: stored %r", self._path, name)

    def retrieve(self, name: str) -> str | None:
        """The key stored under `name`, or None; the key is registered for redaction."""
        _check_name(name)
        value = self._entries().get(name)
        if value is not None:
            register_secret(value)
        return value

    def delete(self, name: str) -> bool:
        """Remove `name`; True if it was there."""
        _check_name(name)
        removed = self._update(name, None)
        log.debug("vault %s: delete %r -> %s", self._path, name, removed)
        return removed

    def list(self) -> builtins.list[str]:
        """The stored names, sorted (never the keys)."""
        return sorted(self._entries())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries()

    def __repr__(self) -> str:
        try:
            count = str(len(self._entries()))
        except VaultError:
            count = "?"
        return f"DataVault(path={str(self._path)!r}, entries={count})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("DataVault cannot be pickled (that would copy its key); reopen it by path")

    def _read(self) -> bytes | None:
        try:
            return self._path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise VaultError(f"cannot read the vault {self._path}: {err.strerror}") from None

    def _entries(self) -> dict[str, str]:
        # No lock for reading: writers replace the file atomically, so a reader sees the
        # old or the new file, never half of one.
        blob = self._read()
        return {} if blob is None else self._open(blob)

    def _open(self, blob: bytes) -> dict[str, str]:
        """Check the header, then decrypt; every failure is a VaultError subclass."""
        if len(blob) < _HEADER.size or blob[:8] != MAGIC:
            raise VaultFormatError(f"{self._path} is not a closedpaw_nb vault file (or is truncated)")
        _, version, kdf_id, n, r, p, salt, nonce, length = _HEADER.unpack_from(blob)
        if version != VERSION:
            raise VaultFormatError(f"vault format version {version} is not supported (this release reads {VERSION})")
        if kdf_id != KDF_SCRYPT:
            raise VaultFormatError(f"the vault names an unknown KDF (id {kdf_id})")
        if length != len(blob) - _HEADER.size or length < _TAG:
            raise VaultFormatError(f"{self._path} is truncated or has trailing bytes")
        kdf = (self._checked(ScryptParams(n, r, p)), salt)
        key = self._keys.get(kdf) or self._derive(kdf)
        try:
            plain = AESGCM(key).decrypt(nonce, blob[_HEADER.size :], blob[: _HEADER.size])
        except InvalidTag:
            raise VaultPasswordError(_BAD) from None
        self._keys[kdf], self._kdf, self._passphrase = key, kdf, None
        return _parse_entries(plain)

    def _checked(self, params: ScryptParams) -> ScryptParams:
        # Checked before deriving anything, so bad parameters cost no time or memory.
        n, r, p = params
        if n < 2 or n & (n - 1):
            raise VaultFormatError(f"scrypt n={n} is not a power of two")
        if n < self.KDF_FLOOR.n or r < self.KDF_FLOOR.r or p < self.KDF_FLOOR.p:
            raise VaultFormatError(f"KDF parameters {tuple(params)} are below the safe floor {tuple(self.KDF_FLOOR)}")
        if n * r * p > self.KDF_MAX_WORK:
            raise VaultFormatError(f"KDF parameters {tuple(params)} exceed the work ceiling {self.KDF_MAX_WORK}")
        return ScryptParams(n, r, p)

    def _derive(self, kdf: _Kdf) -> bytes:
        if self._passphrase is None:
            # The file was re-created under another salt after we let the passphrase go.
            raise VaultPasswordError(_BAD + "; open it again with DataVault(passphrase=...)")
        (n, r, p), salt = kdf
        secret = unicodedata.normalize("NFC", self._passphrase).encode()  # same bytes on any OS
        return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret)

    def _update(self, name: str, key: str | None) -> bool:
        """Set `name` (remove it if `key` is None) under the lock; True if the file changed."""
        try:
            with self._locked():
                entries = self._entries()  # re-read under the lock: another process may have written
                if key is not None:
                    entries[name] = key
                elif entries.pop(name, None) is None:
                    return False
                _atomic_write(self._path, self._seal(entries))
        except OSError as err:
            raise VaultError(f"could not write the vault {self._path}: {err.strerror or err}") from err
        self._passphrase = None  # the file on disk is now under a key we hold
        return True

    def _seal(self, entries: dict[str, str]) -> bytes:
        # The file's own salt and parameters (so the cached key fits), a fresh nonce.
        (params, salt), nonce = self._kdf, os.urandom(12)
        plain = json.dumps({"keys": entries}, sort_keys=True).encode()
        header = _HEADER.pack(MAGIC, VERSION, KDF_SCRYPT, *params, salt, nonce, len(plain) + _TAG)
        return header + AESGCM(self._keys[self._kdf]).encrypt(nonce, plain, header)

    @contextlib.contextmanager
    def _locked(self, timeout: float | None = None) -> Iterator[None]:
        """Hold an exclusive lock on the sidecar `<vault>.lock` through `filelock`.

        `filelock.FileLock` is flock on Unix (the file stays, so every waiter locks the same
        inode) and a byte-range lock on Windows (the file goes on release); either way the OS
        drops the lock if its holder dies. A fresh lock object per call, like a fresh
        descriptor: two threads or two vaults in one process exclude each other as processes do.
        """
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        wait = self._lock_timeout if timeout is None else timeout
        # mode: 0600 like the vault. Polled every 20 ms; max(0, ...) because filelock reads a
        # negative timeout as "wait forever", where a past deadline means one attempt here.
        lock = filelock.FileLock(f"{self._path}.lock", mode=0o600)
        try:
            lock.acquire(timeout=max(0.0, wait), poll_interval=0.02)
        except filelock.Timeout:
            raise VaultLockedError(f"another process is writing {self._path}; try again") from None
        try:
            # Writers keep this lock while their temp file exists, so a temp file seen now
            # was left by a writer that died before os.replace.
            for stale in self._path.parent.glob(f".{self._path.name}.*.tmp"):
                stale.unlink(missing_ok=True)
            yield
        finally:
            lock.release()


def default_vault_path() -> Path:
    """`vault.bin` in the user's config directory (e.g. ~/.config/closedpaw_nb on Linux)."""
    return Path(platformdirs.user_config_dir("closedpaw_nb")) / "vault.bin"


def _resolve_passphrase(passphrase: str | None) -> str:
    passphrase = passphrase if passphrase is not None else os.environ.get(PASSPHRASE_ENV)
    if not passphrase or not isinstance(passphrase, str):
        raise VaultError(
            "the DataVault needs a passphrase (a non-empty str): pass DataVault("
            f"passphrase=getpass.getpass('Vault passphrase: ')) or set {PASSPHRASE_ENV}"
        )
    return passphrase


def _atomic_write(path: Path, data: bytes) -> None:
    # mkstemp creates the file 0600 whatever the umask, and os.replace keeps that mode.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if not hasattr(os, "O_DIRECTORY"):
        return  # Windows cannot open a directory to fsync it; NTFS journals the rename itself
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)  # makes the rename itself survive a power cut
    finally:
        os.close(dir_fd)


def _parse_entries(plain: bytes) -> dict[str, str]:
    with contextlib.suppress(ValueError, AttributeError):
        keys = json.loads(plain).get("keys")
        if isinstance(keys, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
            return keys
    raise VaultFormatError("the vault decrypted but does not hold a table of keys")


def _check_name(name: object, reserved: str | None = None) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"a vault entry name must be a non-empty str, got {type(name).__name__}")
    if name == reserved:
        raise ConfigError(f"{reserved!r} is reserved for the list of names")


def _check_entry(name: object, key: object, reserved: str | None = None) -> None:
    _check_name(name, reserved)
    if not isinstance(key, str) or not key:
        raise ConfigError(f"the key stored under {name!r} must be a non-empty str")
    register_secret(key)  # the key is live in this process now: scrub it from logs and errors


class KeyringVault:
    """The DataVault interface over the OS keyring; keyring cannot enumerate, so `INDEX` lists names.

    Raises:
        VaultError: `keyring` is not installed, or it has no usable backend here.
    """

    INDEX = "__closedpaw_nb_index__"

    def __init__(self, service: str = "closedpaw_nb") -> None:
        try:
            import keyring
        except ImportError:
            raise VaultError("KeyringVault needs the keyring package: pip install keyring") from None
        if getattr(keyring.get_keyring(), "priority", 0) <= 0:  # the "fail" backend has 0
            raise VaultError("keyring has no usable OS backend here (usual on headless Linux); use DataVault")
        self._keyring, self.service = keyring, service

    def store(self, name: str, key: str) -> None:
        """Add or replace the key stored under `name`."""
        _check_entry(name, key, self.INDEX)
        self._keyring.set_password(self.service, name, key)
        if name not in (names := self.list()):
            self._keyring.set_password(self.service, self.INDEX, json.dumps(names + [name]))

    def retrieve(self, name: str) -> str | None:
        """The key stored under `name`, or None; the key is registered for redaction."""
        _check_name(name, self.INDEX)
        value = self._keyring.get_password(self.service, name)
        if value:
            register_secret(value)
        return value

    def delete(self, name: str) -> bool:
        """Remove `name`; True if it was there."""
        _check_name(name, self.INDEX)
        if self._keyring.get_password(self.service, name) is None:
            return False
        self._keyring.delete_password(self.service, name)
        self._keyring.set_password(self.service, self.INDEX, json.dumps([n for n in self.list() if n != name]))
        return True

    def list(self) -> builtins.list[str]:
        """The stored names, sorted."""
        return sorted(json.loads(self._keyring.get_password(self.service, self.INDEX) or "[]"))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.list()

    def __repr__(self) -> str:
        return f"KeyringVault(service={self.service!r})"
