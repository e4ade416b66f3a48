"""Ademco Contact ID (SIA DC-05): the 16-digit message codec, its event mapping, and a serial-line receiver."""

from drivers.contact_id.codec import ContactIdMessage, checksum_digit, decode_for_cli, encode, parse
from drivers.contact_id.events import contact_id_reading

__all__ = ["ContactIdMessage", "checksum_digit", "contact_id_reading", "decode_for_cli", "encode", "parse"]
