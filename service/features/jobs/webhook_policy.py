"""Which webhook URLs a job may name: a server that calls URLs its callers choose is an SSRF hole.

A URL is taken only if it is http(s), carries no credentials, and its host is on the operator's
allow-list (``DOCSUM_WEBHOOK_HOSTS``: ``hooks.example.com``, or ``*.example.com`` for its
subdomains). Its host is resolved, and a private, loopback, link-local or otherwise non-public
address is refused unless the host is listed by that exact name (not through a ``*.`` entry): a
public name cannot be made to point inside the network. The check runs when the job is created
(422 ``webhook_not_allowed``) and again before every delivery; redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from service.errors import InvalidRequest

MAX_URL_CHARS = 2048
Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


class WebhookPolicy:
    def __init__(self, hosts: Iterable[str], *, enabled: bool = True, resolver: Resolver = resolve) -> None:
        self.hosts = frozenset(host.strip().lower().rstrip(".") for host in hosts if host.strip())
        self.enabled = enabled and bool(self.hosts)
        self.resolver = resolver

    def check(self, url: str) -> str:
        """``url`` if a job may call it; else ``InvalidRequest`` 422 ``webhook_not_allowed``."""
        if not self.enabled:
            raise _refused("webhooks are turned off on this server (DOCSUM_WEBHOOK_HOSTS, DOCSUM_WEBHOOK_SECRET)")
        if len(url) > MAX_URL_CHARS:
            raise _refused(f"webhook_url is longer than {MAX_URL_CHARS} characters")
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise _refused("webhook_url is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _refused("webhook_url must be an http or https URL with a host")
        if parts.username is not None or parts.password is not None:
            raise _refused("webhook_url must not carry credentials; the call is signed (X-Docsum-Signature)")
        host = parts.hostname.lower().rstrip(".")
        exact = host in self.hosts
        if not exact and not any(entry.startswith("*.") and host.endswith(entry[1:]) for entry in self.hosts):
            raise _refused(f"the host {host!r} is not on this server's webhook allow-list")
        try:
            addresses = self.resolver(host, port)
        except OSError:
            raise _refused(f"the host {host!r} does not resolve") from None
        if not exact and any(not ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
            raise _refused(f"the host {host!r} resolves to a private address; list it by name to allow that")
        return url


def _refused(message: str) -> InvalidRequest:
    return InvalidRequest(message, code="webhook_not_allowed", param="webhook_url")
