"""Where webhooks may connect: public addresses only, unless WEBHOOK_ALLOWED_NETWORKS lists
an internal receiver on purpose (a subscription must not turn the server into a probe of
its own network, or of the cloud metadata service at 169.254.169.254)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from app.config import IPNetwork, parse_allowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT: someone's inside


class AddressRefused(Exception):
    """The host is, or resolves to, an address webhooks may not reach."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Unresolvable(Exception):
    """The host name has no address."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`, in its order, once each."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(host) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why webhooks may not reach `ip` (e.g. "loopback"), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return refusal(inner)
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in SHARED), "private"),
        (not ip.is_global, "non-public"),
    )
    return next((kind for hit, kind in checks if hit), None)


@dataclass(frozen=True)
class AddressPolicy:
    """The addresses a webhook may connect to: public ones, plus the allow-list."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_entries(
        cls, entries: Iterable[str], resolver: Resolver = system_resolver
    ) -> AddressPolicy:
        """A policy from WEBHOOK_ALLOWED_NETWORKS's entries."""
        networks, hosts = parse_allowed(entries)
        return cls(networks, hosts, resolver)

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)

    def addresses(self, host: str, port: int) -> list[str]:
        """Resolve `host` once and check every address it has; the addresses to connect to
        (all checked). Raises AddressRefused or Unresolvable."""
        name = host.strip("[]").lower().rstrip(".")
        try:
            found = [str(ipaddress.ip_address(name))]
        except ValueError:
            found = self.resolver(name, port)
        if not found:
            raise Unresolvable(host)
        if name in self.hosts:  # a receiver named on purpose: its name is trusted
            return found
        for text in found:
            ip = ipaddress.ip_address(text)
            kind = refusal(ip)
            if kind is not None and not self._allowed(ip):
                # one bad address refuses the name: it could be the one connected to
                raise AddressRefused(kind)
        return found

    def check_url(self, url: str) -> None:
        """Refuse a receiver URL whose host is not reachable under this policy."""
        parts = urlsplit(url)
        if not parts.hostname:
            raise Unresolvable(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.addresses(parts.hostname, port)
