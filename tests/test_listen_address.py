"""Servers' `listen` settings: one reading of HOST:PORT for the GT06, DC-09 and NMEA servers."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.dc09.options import Dc09Options
from drivers.gt06.options import Gt06Options
from drivers.nmea.options import NmeaOptions
from shaobing.net import listen_address

SERVERS: list[tuple[type[Any], dict[str, Any]]] = [
    (Gt06Options, {}),
    (Dc09Options, {"accept_any_account": True}),
    (NmeaOptions, {"mode": "tcp"}),
]


@pytest.mark.parametrize(
    ("listen", "address"),
    [
        ("0.0.0.0:5023", ("0.0.0.0", 5023)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::]:5023", ("::", 5023)),
        ("[::1]:65535", ("::1", 65535)),
        (":5023", ("0.0.0.0", 5023)),
        ("gateway.example.com:5023", ("gateway.example.com", 5023)),
    ],
)
def test_every_server_reads_an_address_the_same_way(listen: str, address: tuple[str, int]) -> None:
    assert listen_address(listen) == address
    for options, required in SERVERS:
        assert options(listen=listen, **required).host_port() == address


@pytest.mark.parametrize("listen", ["5023", "host:", "host:port", "host:65536", "host:-1", "", "[::1]"])
def test_what_is_not_host_and_port_is_refused_by_every_server(listen: str) -> None:
    with pytest.raises(ValueError, match="must be HOST:PORT"):
        listen_address(listen)
    for options, required in SERVERS:
        with pytest.raises(ValueError, match="must be HOST:PORT"):
            options(listen=listen, **required)
