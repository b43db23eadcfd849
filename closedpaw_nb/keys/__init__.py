"""API keys at rest: the encrypted `DataVault` (scrypt + AES-GCM) and the OS keyring
(`KeyringVault`). Imported on first use: cryptography is not loaded by `import closedpaw_nb`."""

from .vault import DataVault, KeyringVault

__all__ = ["DataVault", "KeyringVault"]
