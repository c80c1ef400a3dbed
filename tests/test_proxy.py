"""The PROXY protocol header parser and its use by the server core."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guessgame.game import GameConfig, ServerConnection
from guessgame.proxy import (
    V2_SIGNATURE,
    ProxyHeaderError,
    ProxyHeaderParser,
    format_v1,
    format_v2,
)
from guessgame.records import GameRecord

GAME = b"PARAMS 1 1\nNUMBER\nREPORT Correct\nCLEAR\n"

HEADERS = [
    (format_v1(("203.0.113.7", 40000), ("127.0.0.1", 3333)), ("203.0.113.7", 40000)),
    (format_v1(("2001:db8::1", 1), ("::1", 3333)), ("2001:db8::1", 1)),
    (format_v2(("198.51.100.2", 65535), ("127.0.0.1", 3333)), ("198.51.100.2", 65535)),
    (format_v2(("2001:db8::2", 80), ("::1", 3333)), ("2001:db8::2", 80)),
    (b"PROXY UNKNOWN\r\n", None),
    (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", None),
    # v2 LOCAL: a balancer's own health check
    (V2_SIGNATURE + b"\x20\x00\x00\x00", None),
]


def feed_bytewise(parser: ProxyHeaderParser, data: bytes):
    for i in range(len(data)):
        result = parser.feed(data[i : i + 1])
        if result is not None:
            return result[0], result[1] + data[i + 1 :]
    return None


@pytest.mark.parametrize(("header", "source"), HEADERS)
def test_headers_parse_whole_and_bytewise(header: bytes, source: object) -> None:
    assert ProxyHeaderParser().feed(header + b"NUMBER\n") == (source, b"NUMBER\n")
    assert feed_bytewise(ProxyHeaderParser(), header + b"NUMBER\n") == (source, b"NUMBER\n")


@pytest.mark.parametrize(
    "bad",
    [
        b"PARAMS 1 5\n",
        b"GET / HTTP/1.1\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP4 ::1 ::1 1 2\r\n",
        b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 70000\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        b"PROXY TCP4 999.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY " + b"x" * 200,
        V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12),  # version 3
        V2_SIGNATURE + b"\x22\x11\x00\x0c" + bytes(12),  # command 2
        V2_SIGNATURE + b"\x21\x11\x00\x04" + bytes(4),  # short IPv4 block
        V2_SIGNATURE + b"\x21\x21\x00\x0c" + bytes(12),  # short IPv6 block
        V2_SIGNATURE + b"\x21\x31\x00\x00",  # AF_UNIX
        V2_SIGNATURE + b"\x21\x11\xff\xff",  # absurd length
    ],
)
def test_bad_headers_raise(bad: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        feed_bytewise(ProxyHeaderParser(), bad)


@given(st.binary(max_size=300))
def test_parser_never_fails_otherwise(data: bytes) -> None:
    parser = ProxyHeaderParser()
    try:
        result = feed_bytewise(parser, data)
    except ProxyHeaderError:
        return
    if result is not None:
        source, rest = result
        assert data.endswith(rest)
        assert source is None or 0 <= source[1] <= 65535


@given(
    st.ip_addresses(v=4).map(str) | st.ip_addresses(v=6).map(str),
    st.integers(0, 65535),
    st.sampled_from([format_v1, format_v2]),
)
def test_roundtrip_any_address(host: str, port: int, fmt) -> None:  # type: ignore[no-untyped-def]
    dest = ("127.0.0.1", 3333) if ":" not in host else ("::1", 3333)
    source, rest = ProxyHeaderParser().feed(fmt((host, port), dest) + b"x")  # type: ignore[misc]
    assert source == (host, port)
    assert rest == b"x"


@pytest.mark.parametrize(("header", "source"), HEADERS)
def test_server_connection_takes_peer_from_header(header: bytes, source: object) -> None:
    records: list[GameRecord] = []
    conn = ServerConnection(
        GameConfig(proxy_protocol=True), peer="127.0.0.1:9", on_game_end=records.append
    )
    out = b"".join(conn.receive_data(header[i : i + 1]) for i in range(len(header)))
    out += conn.receive_data(GAME)
    assert out == b"1\n"
    if source is None:
        # The balancer's own connection (a health check): played, not recorded.
        assert records == []
    else:
        host, port = source  # type: ignore[misc]
        assert records[0].peer == (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")


def test_server_connection_without_header_is_closed() -> None:
    conn = ServerConnection(GameConfig(proxy_protocol=True))
    reply = conn.receive_data(b"PARAMS 1 5\n")
    assert reply.startswith(b"ERROR bad-proxy-header ")
    assert conn.closed
    assert conn.receive_data(b"NUMBER\n") == b""


def test_header_not_expected_is_a_bad_command() -> None:
    conn = ServerConnection(GameConfig())
    header = format_v1(("203.0.113.7", 40000), ("127.0.0.1", 3333))
    assert conn.receive_data(header).startswith(b"ERROR unknown-command ")
    assert not conn.closed
