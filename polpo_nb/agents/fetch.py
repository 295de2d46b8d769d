"""Where `http_fetch` may go: public destinations only, unless the project config names a host.

An LLM agent is steered by the text it reads, so a page can ask it to fetch `http://169.254.169.254/`
(cloud metadata), `http://127.0.0.1:8888/` (the Jupyter server beside it) or a private address. Every
hop of a request, redirects included, is checked on the addresses its host name *resolves to*, and the
connection goes to the address that was checked (the URL's host is replaced by it; `Host` and TLS SNI
keep the name, so virtual hosts and certificates work): a DNS answer that changes between the check and
the connection (rebinding) cannot move the request. Environment proxies are ignored, since a proxy
would resolve the name itself.

`httpFetchAllowHosts` in the project config lifts the refusal for named hosts (`localhost`,
`intranet.example`), addresses (`127.0.0.1`) or networks (`10.0.0.0/8`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import httpx

from ..errors import PolpoError
from ..spec.config import parse_allow_entry

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host, port -> the addresses the host resolves to (the system resolver unless a test plays one)
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_REDIRECTS = 5
TIMEOUT_SECONDS = 30.0
#: Names of cloud metadata services, refused by name before any lookup.
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                            "instance-data.ec2.internal"})
#: Metadata addresses that the "not public" rule would miss or misname.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"))


class FetchRefused(PolpoError):
    """A destination `http_fetch` may not reach."""

    code = "BAD_REQUEST"


@dataclass(frozen=True)
class FetchPolicy:
    """The destinations `http_fetch` may reach beyond public ones: host names, addresses, networks."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def from_config(cls, entries: Iterable[str]) -> FetchPolicy:
        names, networks = set(), []
        for entry in entries:
            kind, value = parse_allow_entry(entry)
            if kind == "name":
                names.add(value)
            else:
                networks.append(ipaddress.ip_network(value, strict=False))
        return cls(frozenset(names), tuple(networks))

    def refusal(self, host: str, address: str) -> str | None:
        """Why `host`, resolved to `address`, may not be reached (None: it may)."""
        if host.lower().rstrip(".") in self.names:
            return None
        ip = _unmapped(ipaddress.ip_address(address))
        if any(ip in net for net in self.networks if net.version == ip.version):
            return None
        kind = _internal_kind(ip)
        if kind is None:
            return None
        shown = host if host == address else f"{host} ({address})"
        return (f"{shown} is a {kind} address, which http_fetch does not reach; add the host to "
                "httpFetchAllowHosts in the project config to allow it")


def _unmapped(ip: IPAddress) -> IPAddress:
    """An IPv4 address written as IPv6 (::ffff:127.0.0.1) is checked as the IPv4 address it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _internal_kind(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is, or None for a public one."""
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "non-public"
    return None


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _pin(url: httpx.URL, policy: FetchPolicy, resolve: Resolver) -> str:
    """The checked address to connect to for `url`: every address its host resolves to must pass."""
    if url.scheme not in ("http", "https"):
        raise FetchRefused(f"only http:// and https:// URLs can be fetched, not {str(url)!r}")
    host = url.host
    if not host:
        raise FetchRefused(f"{str(url)!r} has no host")
    if host.lower().rstrip(".") in METADATA_NAMES and host.lower().rstrip(".") not in policy.names:
        raise FetchRefused(f"{host} is a cloud metadata service, which http_fetch does not reach")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = await resolve(host, url.port or (443 if url.scheme == "https" else 80))
        except OSError as exc:
            raise FetchRefused(f"cannot resolve {host}: {exc}") from None
    if not addresses:
        raise FetchRefused(f"cannot resolve {host}")
    for address in addresses:
        reason = policy.refusal(host, address)
        if reason:
            raise FetchRefused(reason)
    return addresses[0]


@dataclass
class Fetched:
    status: int
    content_type: str
    body: bytes
    encoding: str | None


async def fetch(url: str, *, method: str = "GET", body: str | None = None, headers: dict[str, str] | None = None,
                policy: FetchPolicy, max_bytes: int, resolve: Resolver = system_resolve) -> Fetched:
    """One request, its redirects followed by hand so that each hop is checked and pinned."""
    target = httpx.URL(url)
    method = method.upper()
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            address = await _pin(target, policy, resolve)
            host_header = target.netloc.decode("ascii")
            extra = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
            request = client.build_request(
                method, target.copy_with(host=address), content=body, headers={**extra, "Host": host_header},
                extensions={"sni_hostname": target.host} if target.scheme == "https" else {})
            response = await client.send(request, stream=True)
            try:
                location = response.headers.get("location")
                if response.is_redirect and location:
                    target = target.join(location)
                    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                        method, body = "GET", None
                    continue
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) >= max_bytes:
                        break
                return Fetched(response.status_code, response.headers.get("content-type", ""), bytes(data),
                               response.encoding)
            finally:
                await response.aclose()
    raise FetchRefused(f"more than {MAX_REDIRECTS} redirects from {url}")
