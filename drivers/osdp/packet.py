"""One OSDP packet as captured on the RS-485 line, checked and named: for `shaobing decode osdp` and for tests. No I/O.

    [FF mark] 53 addr len_lo len_hi ctrl [security block] code data.. [MAC] check

`addr` has its top bit set in a reply from the reader (PD); `len` counts the whole packet from 53 through the check;
`ctrl` bits 0-1 are the sequence number, 0x04 says the check is a CRC-16 (two bytes, little-endian; polynomial 0x1021,
initial value 0x1D0F, not reflected) rather than an 8-bit checksum, 0x08 that a security block follows. The live driver
leaves framing to libosdp; this codec reads what a bus capture shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shaobing.errors import FrameError

MARK = 0xFF
SOM = 0x53
MIN_PACKET = 7  # SOM, address, two length bytes, ctrl, code, a one-byte checksum
MAX_PACKET = 1440  # the largest packet a PD may announce it can take; beyond it is noise

COMMANDS = {0x60: "POLL", 0x61: "ID", 0x62: "CAP", 0x64: "LSTAT", 0x65: "ISTAT", 0x66: "OSTAT", 0x67: "RSTAT",
            0x68: "OUT", 0x69: "LED", 0x6A: "BUZ", 0x6B: "TEXT", 0x6E: "COMSET", 0x73: "BIOREAD", 0x75: "KEYSET",
            0x76: "CHLNG", 0x77: "SCRYPT", 0x7B: "ACURXSIZE", 0x7C: "FILETRANSFER", 0x80: "MFG", 0xA2: "KEEPACTIVE"}
REPLIES = {0x40: "ACK", 0x41: "NAK", 0x45: "PDID", 0x46: "PDCAP", 0x48: "LSTATR", 0x49: "ISTATR", 0x4A: "OSTATR",
           0x4B: "RSTATR", 0x50: "RAW", 0x51: "FMT", 0x53: "KEYPAD", 0x54: "COM", 0x76: "CCRYPT", 0x78: "RMAC_I",
           0x79: "BUSY", 0x7A: "FTSTAT", 0x90: "MFGREP"}
MAC_BYTES = 4  # the security blocks of types 0x15..0x18 protect the packet with a 4-byte MAC before the check


def crc16(data: bytes) -> int:
    """OSDP's CRC-16 (CRC-16/AUG-CCITT): `crc16(b"123456789") == 0xE5CC`."""
    crc = 0x1D0F
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def checksum(data: bytes) -> int:
    """The 8-bit check of packets without CRC: the two's complement of the byte sum."""
    return -sum(data) & 0xFF


@dataclass(frozen=True, slots=True)
class OsdpPacket:
    address: int  # 0..126, or 0x7F for broadcast
    reply: bool  # sent by the reader (PD) rather than the control panel
    sequence: int
    check: str  # "crc" or "checksum"
    security_block: bytes | None  # length, type and data of the block, as received
    code: int
    data: bytes  # as carried: encrypted when the security block says so

    @property
    def name(self) -> str:
        table = REPLIES if self.reply else COMMANDS
        return table.get(self.code, "unknown")


def parse_packet(frame: bytes) -> OsdpPacket:
    """Check and split one packet; `FrameError` naming what is wrong for anything else."""
    packet = frame[1:] if frame[:1] == bytes([MARK]) else frame
    if len(packet) < MIN_PACKET:
        raise FrameError(f"truncated: {len(packet)} bytes, a packet has at least {MIN_PACKET}", frame)
    if packet[0] != SOM:
        raise FrameError(f"start: expected 0x53, got 0x{packet[0]:02X}", frame)
    length = int.from_bytes(packet[2:4], "little")
    if length > MAX_PACKET:
        raise FrameError(f"length: {length} is more than {MAX_PACKET}", frame)
    if length != len(packet):
        raise FrameError(f"length: header says {length} bytes, got {len(packet)}", frame)
    ctrl = packet[4]
    if ctrl & 0x70:
        raise FrameError(f"ctrl: reserved bits set in 0x{ctrl:02X}", frame)
    if ctrl & 0x04:
        if len(packet) < MIN_PACKET + 1:
            raise FrameError("truncated: too short for a CRC", frame)
        body, received = packet[:-2], int.from_bytes(packet[-2:], "little")
        expected, check = crc16(body), "crc"
    else:
        body, received = packet[:-1], packet[-1]
        expected, check = checksum(body), "checksum"
    if received != expected:
        raise FrameError(f"{check}: expected 0x{expected:0{4 if check == 'crc' else 2}X}, got 0x{received:0X}", frame)
    rest = body[5:]
    security_block = None
    if ctrl & 0x08:
        block_length = rest[0] if rest else 0
        if block_length < 2 or block_length >= len(rest):
            raise FrameError(f"security block: length {block_length} does not fit the packet", frame)
        security_block, rest = rest[:block_length], rest[block_length:]
        if security_block[1] in (0x15, 0x16, 0x17, 0x18):
            if len(rest) < 1 + MAC_BYTES:
                raise FrameError("security block: no room for the code and the MAC", frame)
            rest = rest[:-MAC_BYTES]
    if not rest:
        raise FrameError("truncated: no command or reply code", frame)
    address = packet[1]
    return OsdpPacket(address=address & 0x7F, reply=bool(address & 0x80), sequence=ctrl & 0x03, check=check,
                      security_block=security_block, code=rest[0], data=bytes(rest[1:]))


def decode_for_cli(line: str) -> dict[str, Any]:
    """`shaobing decode osdp`: one packet in hex (spaces allowed)."""
    text = line.strip().replace(" ", "")
    try:
        frame = bytes.fromhex(text)
    except ValueError:
        raise FrameError("hex: the packet must be written in hex", line) from None
    packet = parse_packet(frame)
    return {"format": "osdp", "address": packet.address, "direction": "pd_to_cp" if packet.reply else "cp_to_pd",
            "sequence": packet.sequence, "check": packet.check, "code": f"{packet.code:02X}", "type": packet.name,
            "security_block": packet.security_block.hex().upper() if packet.security_block is not None else None,
            "data": packet.data.hex().upper()}
