"""Who a client is, for rate limits and for TRUSTED_PROXIES: one canonical form for every spelling of an address.

`ipaddress` parses each address (and TRUSTED_PROXIES entry) once: `::1`, `0:0::1` and `0000::0001` are one
address, an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports for an IPv4 peer) is its
IPv4 address, and an IPv4-mapped network in TRUSTED_PROXIES is its IPv4 network. Rate limits key an IPv6 client by
its network (RATE_LIMIT_IPV6_PREFIX bits, /64 by default: what one host or one customer is usually given), since
one host may take any address of it. The audit log keeps the full address.
"""

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAPPED_PREFIX = 96  # ::ffff:0:0/96 holds the IPv4-mapped addresses


def parse_address(text: str) -> Address | None:
    """The address in `text`, canonical and unmapped, or None when it is not one.

    Accepts what peers and proxies write: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`, with a `:port` after an
    IPv4 address or a bracketed IPv6 one, and an IPv6 zone (`fe80::1%eth0`, dropped).
    """
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_network(text: str) -> Network:
    """A TRUSTED_PROXIES entry as a network; an IPv4-mapped IPv6 network becomes its IPv4 network. Raises ValueError."""
    network = ipaddress.ip_network(text.strip(), strict=False)
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.prefixlen >= _MAPPED_PREFIX
        and (mapped := network.network_address.ipv4_mapped) is not None
    ):
        return ipaddress.IPv4Network((mapped, network.prefixlen - _MAPPED_PREFIX))
    return network


def client_key(address: str, ipv6_prefix: int) -> str:
    """The rate-limit key of a peer address: an IPv4 address, or the IPv6 network of `ipv6_prefix` bits around it.

    A peer that is not an IP address (a Unix socket, a test client) is keyed by its text as given.
    """
    parsed = parse_address(address)
    if parsed is None:
        return address
    if isinstance(parsed, ipaddress.IPv4Address):
        return str(parsed)
    return str(ipaddress.IPv6Network((int(parsed), ipv6_prefix), strict=False))
