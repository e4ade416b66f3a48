"""What the server sends: the short acknowledgement a device waits for, and text commands (0x80).

Acknowledgement  78 78 05 <protocol> <serial> <crc> 0D 0A   (for a 79 79 frame: 79 79 00 05 ...)
Command 0x80     78 78 <len> 80 <len of flag+text> <server flag, 4 bytes> <ASCII text> <serial> <crc> 0D 0A
The CRC (X-25) covers the length field through the serial number, as in every GT06 frame.

Which packets are acknowledged follows Traccar: login, status and heartbeat, every GPS / LBS / alarm packet, the
short command reply 0x15, and (once the driver has counted and logged it) a well-formed packet of a protocol this
gateway does not decode; not 0x21 (the long command reply) nor the server's own command numbers. A device that is
not answered resends and after a few silent replies drops the connection, so an unknown but intact packet is better
answered than left to loop. The GK310's address request 0x2A gets the long "address unknown" answer 0x97.
"""

from __future__ import annotations

import struct

from drivers.gt06.crc import crc16_x25
from drivers.gt06.message import ADDRESS_RESPONSE, COMMAND, START_LONG, START_SHORT, STOP, STRING_INFO

MAX_COMMAND_TEXT = 255 - 12  # the length byte counts protocol, text length, flag, text, serial and CRC
_NO_REPLY = frozenset({STRING_INFO, COMMAND, 0x81, 0x82})


def encode_frame(protocol: int, body: bytes, serial: int, *, long_frame: bool = False) -> bytes:
    """A complete frame: start, length, protocol, body, serial, CRC, stop."""
    if not 0 <= serial <= 0xFFFF:
        raise ValueError("serial must be 0..65535")
    length = 1 + len(body) + 2 + 2
    if long_frame:
        if length > 0xFFFF:
            raise ValueError("frame too long")
        head = struct.pack(">H", length)
    else:
        if length > 0xFF:
            raise ValueError("frame too long for a 78 78 frame")
        head = bytes([length])
    covered = head + bytes([protocol]) + body + struct.pack(">H", serial)
    return (START_LONG if long_frame else START_SHORT) + covered + struct.pack(">H", crc16_x25(covered)) + STOP


def needs_reply(protocol: int) -> bool:
    return protocol not in _NO_REPLY


def reply(protocol: int, serial: int, *, long_frame: bool = False) -> bytes:
    """The acknowledgement of a packet: its protocol number and serial echoed."""
    return encode_frame(protocol, b"", serial, long_frame=long_frame)


def address_response(serial: int = 0) -> bytes:
    """The answer to a GK310 address request (0x2A): no address known, as Traccar sends it."""
    text = b"NA&&NA&&0##"
    return encode_frame(ADDRESS_RESPONSE, bytes([len(text)]) + b"\0\0\0\0" + text, serial, long_frame=True)


def build_command(text: str, server_flag: int, serial: int) -> bytes:
    """A text command 0x80 ("Relay,1#"); the device echoes `server_flag` in its reply, which finds the command."""
    if not 0 <= server_flag <= 0xFFFFFFFF:
        raise ValueError("server flag must fit in 4 bytes")
    encoded = text.encode("ascii")
    if len(encoded) > MAX_COMMAND_TEXT:
        raise ValueError(f"command text longer than {MAX_COMMAND_TEXT} bytes")
    body = bytes([4 + len(encoded)]) + struct.pack(">I", server_flag) + encoded
    return encode_frame(COMMAND, body, serial)
