"""Which webhook URLs are acceptable: http(s) only, no credentials in the URL, and never
this system's own admin ports nor (unless allowed) loopback, private or link-local
addresses, which would let a subscription reach what only the system should."""
import ipaddress
import socket
from urllib.parse import urlsplit


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def url_problem(url: str, denied_ports: frozenset[int], allow_private: bool) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username or parts.password:
        return "must not carry credentials"
    addresses = _addresses(parts.hostname)
    if not addresses:
        return "the host does not resolve"
    for address in addresses:
        # Cloud metadata (169.254.169.254) is link-local: never, whatever is allowed.
        if address.is_link_local:
            return "points to a link-local or reserved address"
        if address.is_loopback or address.is_private:
            if port in denied_ports:
                return f"points to one of the system's own ports ({port})"
            if not allow_private:
                return "points to a private or loopback address"
        elif address.is_unspecified or address.is_multicast or address.is_reserved:
            return "points to a link-local or reserved address"
    return None
