"""Where connections go: proxies from the environment and the default TLS context.

Pure standard library (the client module applies them), so they are easy to test alone.
"""

from __future__ import annotations

import functools
import os
import ssl
import urllib.request

from ..errors import ConfigError

__all__ = ["default_ssl_context", "env_proxy"]


def env_proxy(scheme: str, host: str) -> str | None:
    """The proxy the environment names for `scheme://host` (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY;
    NO_PROXY honoured), or None.

    Raises:
        ConfigError: The proxy is not an HTTP proxy (e.g. socks5://), which this client cannot use.
    """
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    if not proxy.lower().startswith(("http://", "https://")):
        raise ConfigError(
            f"the environment's proxy for {scheme} is a {proxy.split(':', 1)[0]} proxy; only http(s):// "
            "proxies are supported (set settings['proxy'] to an HTTP proxy, or NO_PROXY for this host)"
        )
    return proxy


def default_ssl_context() -> ssl.SSLContext:
    """The default TLS context: system roots plus certifi's; SSL_CERT_FILE/SSL_CERT_DIR, when
    set, replace both. Built once per setting (building one reads every root certificate)."""
    return _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _ssl_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    except (ImportError, OSError):  # certifi comes with httpx; the system roots remain
        pass
    return context
