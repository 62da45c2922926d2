"""Which network addresses a fetch may connect to (pure: no network, no I/O).

A worker often sits next to services a feed must never reach: the cloud's metadata endpoint hands out
credentials, and internal hosts trust whoever is on their network. So link-local and metadata addresses are
refused always, and loopback, private and unspecified addresses unless the feed list allows private networks.
The check runs on the address actually connected to (after DNS), at every redirect hop.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_net = ipaddress.ip_network

# Refused whatever the settings say.
_METADATA = (
    _net("169.254.0.0/16"),  # IPv4 link-local, with the AWS, GCP, Azure and OCI metadata endpoints
    _net("fe80::/10"),  # IPv6 link-local
    _net("100.100.100.200/32"),  # Alibaba Cloud metadata
    _net("fd00:ec2::254/128"),  # AWS metadata over IPv6
    _net("168.63.129.16/32"),  # Azure's platform endpoint (wireserver)
)
_NOT_UNICAST = (_net("224.0.0.0/4"), _net("240.0.0.0/4"), _net("ff00::/8"))
# Refused unless private networks are allowed.
_LOOPBACK = (_net("127.0.0.0/8"), _net("::1/128"))
_UNSPECIFIED = (_net("0.0.0.0/8"), _net("::/128"))  # Linux connects 0.0.0.0 to the local host
_PRIVATE = (
    _net("10.0.0.0/8"),
    _net("172.16.0.0/12"),
    _net("192.168.0.0/16"),
    _net("100.64.0.0/10"),  # carrier-grade NAT, also used inside clouds
    _net("fc00::/7"),  # unique local
    _net("fec0::/10"),  # site-local (deprecated, still routable inside some networks)
)
# IPv6 forms that carry an IPv4 address a connection may end up at.
_NAT64 = _net("64:ff9b::/96")


def ip_literal(host: str) -> IPAddress | None:
    """The address a URL's host names without DNS: '10.0.0.1', '::1', and the old IPv4 forms resolvers
    still accept ('127.1', '0x7f000001', '2130706433'); None for a host name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def refusal(address: str | IPAddress, allow_private_networks: bool) -> str | None:
    """Why a connection to `address` is refused ("a loopback address; allow_private_networks is off"), or
    None when it is allowed. An address that does not parse is refused."""
    try:
        ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:
            ip = embedded
    if _within(ip, _METADATA):
        return "a link-local/metadata address"
    if _within(ip, _NOT_UNICAST):
        return "a multicast or reserved address"
    if allow_private_networks:
        return None
    for kind, networks in (("a loopback", _LOOPBACK), ("an unspecified", _UNSPECIFIED), ("a private", _PRIVATE)):
        if _within(ip, networks):
            return f"{kind} address; allow_private_networks is off"
    return None


def _within(ip: IPAddress, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    return any(ip.version == network.version and ip in network for network in networks)
