"""CRC-16/ARC as DC-09 prescribes: polynomial 0x8005 reflected (0xA001), initial value 0, no final XOR."""

from __future__ import annotations


def _build_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _build_table()


def crc16_arc(data: bytes | bytearray | memoryview) -> int:
    """The CRC of `data`; `crc16_arc(b"123456789") == 0xBB3D`."""
    crc = 0
    table = _TABLE
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc
