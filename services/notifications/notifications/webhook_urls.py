"""Which webhook URLs are acceptable, and where to connect for one: http(s) only, plain
ASCII with no spaces or control characters, no credentials in the URL, never this
system's own admin ports, and only global addresses unless private ones are allowed
(local runs). The address is resolved once and the sender connects to exactly the
address checked, so a name cannot resolve somewhere else between check and send."""
import ipaddress
import socket
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _addresses(host: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def _address_problem(address: Address, port: int, denied_ports: frozenset[int],
                     allow_private: bool) -> str | None:
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    # Cloud metadata (169.254.169.254) is link-local: never, whatever is allowed.
    if address.is_link_local or address.is_unspecified or address.is_multicast:
        return "points to a link-local or reserved address"
    if address.is_loopback or address.is_private:
        if port in denied_ports:
            return f"points to one of the system's own ports ({port})"
        if not allow_private:
            return "points to a private or loopback address"
        return None
    # Shared address space (100.64/10, e.g. a cloud's metadata service) and the like.
    if not address.is_global:
        return "points to a link-local or reserved address"
    return None


def check(url: str, denied_ports: frozenset[int],
          allow_private: bool) -> tuple[str | None, str | None]:
    """(problem, address to connect to): exactly one of them is None."""
    if any(ord(ch) <= 32 or ord(ch) >= 127 for ch in url):
        return "must be plain ASCII without spaces or control characters", None
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "not a valid URL", None
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL", None
    if not parts.hostname:
        return "must name a host", None
    if parts.username or parts.password:
        return "must not carry credentials", None
    addresses = _addresses(parts.hostname)
    if not addresses:
        return "the host does not resolve", None
    for address in addresses:
        problem = _address_problem(address, port, denied_ports, allow_private)
        if problem:
            return problem, None
    return None, str(addresses[0])


def url_problem(url: str, denied_ports: frozenset[int], allow_private: bool) -> str | None:
    return check(url, denied_ports, allow_private)[0]
