"""Which URLs the engine may call: one policy for every user-supplied URL (Web Push endpoints, FCM token_uri,
journey webhooks).

The sender must never be turned against internal addresses (SSRF): https only, to a host (or host:port) on
an allow-list, plain http only for a listed loopback host, and private, link-local (cloud metadata) and
reserved IP literals refused even when listed. Callers never follow redirects, so a checked URL is the
only place a request goes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}


def _split_host_port(entry: str) -> tuple[str, int | None]:
    """'host', 'host:port', '[v6]', '[v6]:port' or a bare IPv6 literal -> (host, port or None)."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


def _is_loopback(host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    return host == "localhost" if ip is None else ip.is_loopback


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def _entry_matches(host: str, port: int, default_port: int, entries: Iterable[str], is_ip: bool) -> bool:
    for entry in entries:
        pattern, entry_port = _split_host_port(entry)
        if is_ip and pattern.startswith("*."):
            continue  # a wildcard names DNS names, never an IP literal
        # An entry without a port allows only the scheme's default port.
        if _host_matches(host, pattern) and port == (entry_port if entry_port is not None else default_port):
            return True
    return False


def outbound_hosts(text: str | None, fallback: Sequence[str]) -> list[str]:
    """The hosts journey webhooks may call: OUTBOUND_ALLOWED_HOSTS (comma list), or, when it is unset or blank,
    `fallback` (the Web Push allow-list, which webhooks shared before the outbound list existed, so a stack
    that listed its webhook hosts there keeps calling them)."""
    entries = [e.strip().lower() for e in (text or "").split(",") if e.strip()]
    return entries or list(fallback)


def check_url(url: str, allowed_hosts: Sequence[str], *, field: str, allow_list: str) -> None:
    """Refuse (ValueError "<field>: <reason>") a URL the engine must not call.

    https only, on a host (or host:port) of the allow-list (exact or `*.` suffix); plain http only for a
    listed loopback host; private, link-local and metadata IP literals are refused even when listed.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"{field}: missing")
    if any(ord(c) <= 0x20 or c in "\\\x7f" for c in url):
        raise ValueError(f"{field}: contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{field}: not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{field}: scheme {scheme or '(none)'!r} is not allowed, only https")
    if "@" in parts.netloc:
        raise ValueError(f"{field}: user info is not allowed in the URL")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"{field}: missing host")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    loopback = _is_loopback(host, ip)
    if ip is not None and not loopback and not ip.is_global:
        raise ValueError(f"{field}: {host} is a private, link-local or reserved address")
    default_port = _DEFAULT_PORTS[scheme]
    if not _entry_matches(host, port or default_port, default_port, allowed_hosts, ip is not None):
        raise ValueError(f"{field}: host {parts.netloc.lower()} is not on {allow_list}")
    if scheme == "http" and not loopback:
        raise ValueError(f"{field}: plain http is only allowed for a listed loopback host")
