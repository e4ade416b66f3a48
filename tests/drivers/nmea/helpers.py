"""What the NMEA driver tests share: sentences built with their checksums, and receivers' bursts of them."""

from __future__ import annotations

from drivers.nmea.codec import checksum


def sentence(body: str) -> bytes:
    """`$body*hh` CR LF, as a receiver sends it."""
    return f"${body}*{checksum(body)}\r\n".encode("ascii")


def epoch(second: int, *, valid: bool = True, day: str = "241126", lat: str = "3114.8770") -> bytes:
    """A receiver's burst for one second of 2026-11-24 08:00: RMC, GGA and a GSV (which is not decoded)."""
    at = f"0800{second:02d}.00" if second < 60 else f"08{second // 60:02d}{second % 60:02d}.00"
    if valid:
        rmc = sentence(f"GNRMC,{at},A,{lat},N,12135.2463,E,0.30,4.94,{day},,,A")
        gga = sentence(f"GNGGA,{at},{lat},N,12135.2463,E,1,07,1.1,190.7,M,8.3,M,,")
    else:
        rmc = sentence(f"GNRMC,{at},V,,,,,,,{day},,,N")
        gga = sentence(f"GNGGA,{at},,,,,0,00,99.99,,M,,M,,")
    return rmc + gga + sentence("GPGSV,1,1,01,04,70,050,45")
