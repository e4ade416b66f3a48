"""Entry point `nmea` of `shaobing.drivers`: a serial receiver or a TCP server for trackers, by `mode`.

    [[drivers]]
    type = "nmea"
    name = "gps"
    mode = "serial"          # or "tcp" (listen = "0.0.0.0:10110")
    port = "/dev/ttyS1"
    baudrate = 9600
    min_interval_s = 5       # 0: every fix
    min_distance_m = 50
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.nmea.options import NmeaOptions
from drivers.nmea.serial_driver import NmeaSerialDriver
from drivers.nmea.tcp_server import NmeaTcpServer
from shaobing.config import validate_table


def create(options: Mapping[str, Any], *, source: str) -> NmeaSerialDriver | NmeaTcpServer:
    """The driver its (closed) configuration table describes; ConfigError naming `source` and the key otherwise."""
    settings = validate_table(options, NmeaOptions, source)
    if settings.mode == "serial":
        return NmeaSerialDriver(settings)
    return NmeaTcpServer(settings)
