"""The PROXY protocol header (HAProxy's ``send-proxy`` / ``send-proxy-v2``), sans-I/O.

A load balancer in TCP mode hides the player's address: the server sees
only the balancer's. With the PROXY protocol the balancer opens every
connection with one header carrying the original source and destination.
Version 1 is a text line, version 2 a binary block; both are parsed here,
from the specification at haproxy.org (doc/proxy-protocol.txt).
"""

from __future__ import annotations

import ipaddress
import struct

__all__ = ["ProxyHeaderError", "ProxyHeaderParser", "V2_SIGNATURE", "format_v1", "format_v2"]

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
#: A v1 header is at most 107 bytes, CRLF included (the specification's limit).
V1_MAX = 107
#: v2 addresses plus TLVs; the specification allows up to 65535 + 16, we accept
#: what a balancer sends for TCP (addresses and a few TLVs).
V2_MAX_PAYLOAD = 4096


class ProxyHeaderError(Exception):
    """The connection did not start with a valid PROXY protocol header."""


class ProxyHeaderParser:
    """Accumulates the start of a connection until the header is complete.

    :meth:`feed` returns None while more bytes are needed, then a pair
    ``(source, rest)``: the client's ``(host, port)`` (None for a ``LOCAL``
    or ``UNKNOWN`` header, such as a balancer's health check) and the bytes
    after the header, which belong to the game protocol.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> tuple[tuple[str, int] | None, bytes] | None:
        buf = self._buf + data
        self._buf = buf
        if buf.startswith(b"PROXY "):
            return self._v1(buf)
        if buf.startswith(V2_SIGNATURE):
            return self._v2(buf)
        if not (b"PROXY ".startswith(buf[:6]) or V2_SIGNATURE.startswith(buf[:12])):
            raise ProxyHeaderError("no PROXY protocol header")
        return None

    def _v1(self, buf: bytes) -> tuple[tuple[str, int] | None, bytes] | None:
        end = buf.find(b"\r\n")
        if end < 0:
            if len(buf) >= V1_MAX:
                raise ProxyHeaderError("PROXY v1 header longer than 107 bytes")
            return None
        if end + 2 > V1_MAX:
            raise ProxyHeaderError("PROXY v1 header longer than 107 bytes")
        rest = buf[end + 2 :]
        try:
            fields = buf[:end].decode("ascii").split(" ")
        except UnicodeDecodeError:
            raise ProxyHeaderError("PROXY v1 header is not ASCII") from None
        if len(fields) >= 2 and fields[1] == "UNKNOWN":
            return None, rest
        if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6"):
            raise ProxyHeaderError("malformed PROXY v1 header")
        _, proto, src, dst, sport, dport = fields
        try:
            source = ipaddress.ip_address(src)
            destination = ipaddress.ip_address(dst)
        except ValueError:
            raise ProxyHeaderError("malformed address in PROXY v1 header") from None
        version = 4 if proto == "TCP4" else 6
        if source.version != version or destination.version != version:
            raise ProxyHeaderError("address family mismatch in PROXY v1 header")
        for text in (sport, dport):
            if not (text.isascii() and text.isdigit() and int(text) <= 65535):
                raise ProxyHeaderError("malformed port in PROXY v1 header")
        return (str(source), int(sport)), rest

    def _v2(self, buf: bytes) -> tuple[tuple[str, int] | None, bytes] | None:
        if len(buf) < 16:
            return None
        ver_cmd, family, length = struct.unpack_from("!BBH", buf, 12)
        if ver_cmd >> 4 != 2:
            raise ProxyHeaderError("unsupported PROXY protocol version")
        if length > V2_MAX_PAYLOAD:
            raise ProxyHeaderError("PROXY v2 header too long")
        if len(buf) < 16 + length:
            return None
        payload, rest = buf[16 : 16 + length], buf[16 + length :]
        command = ver_cmd & 0x0F
        if command == 0x0:  # LOCAL: the balancer speaking for itself
            return None, rest
        if command != 0x1:
            raise ProxyHeaderError("unknown PROXY v2 command")
        if family == 0x11:  # TCP over IPv4
            if length < 12:
                raise ProxyHeaderError("short PROXY v2 IPv4 address block")
            src = ipaddress.IPv4Address(payload[0:4])
            (port,) = struct.unpack_from("!H", payload, 8)
        elif family == 0x21:  # TCP over IPv6
            if length < 36:
                raise ProxyHeaderError("short PROXY v2 IPv6 address block")
            src6 = ipaddress.IPv6Address(payload[0:16])
            (port,) = struct.unpack_from("!H", payload, 32)
            return (str(src6), port), rest
        elif family == 0x00:  # UNSPEC
            return None, rest
        else:
            raise ProxyHeaderError("unsupported PROXY v2 address family")
        return (str(src), port), rest


def format_v1(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A v1 header, as a balancer sends it (for tests and tools)."""
    version = ipaddress.ip_address(source[0]).version
    proto = "TCP4" if version == 4 else "TCP6"
    return f"PROXY {proto} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n".encode()


def format_v2(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A v2 PROXY header over TCP, as a balancer sends it (for tests and tools)."""
    src = ipaddress.ip_address(source[0])
    dst = ipaddress.ip_address(destination[0])
    payload = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1])
    family = 0x11 if src.version == 4 else 0x21
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, family, len(payload)) + payload
