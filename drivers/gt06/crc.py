"""CRC-16/X-25 (also called CRC-ITU by GT06 documents): polynomial 0x1021 reflected (0x8408), initial value 0xFFFF,
final XOR 0xFFFF. GT06 computes it over the length byte(s) through the serial number."""

from __future__ import annotations


def _build_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _build_table()


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """The CRC of `data`; `crc16_x25(b"123456789") == 0x906E`."""
    crc = 0xFFFF
    table = _TABLE
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF
