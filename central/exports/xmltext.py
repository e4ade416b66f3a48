"""Text for the XML formats: escaped, and cleaned of characters XML 1.0 cannot carry at all.

Names of bikes are typed by people: `<`, `&` and quotes are escaped (`xml.sax.saxutils`), and control characters, lone
surrogates and U+FFFE/U+FFFF, which no escape can make legal in XML 1.0, are replaced by U+FFFD so that a hostile name
cannot break the document.
"""

from __future__ import annotations

import re
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

from shaobing.clock import format_ts

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def text(value: str) -> str:
    """Element content."""
    return escape(_NOT_XML.sub("\ufffd", value))


def attr(value: str) -> str:
    """An attribute value, quotes included."""
    return quoteattr(_NOT_XML.sub("\ufffd", value))


def when(moment: datetime) -> str:
    return format_ts(moment)


def number(value: float, places: int) -> str:
    """Fixed decimals, no exponent, no trailing zeros (`116.3975`, `0`)."""
    formatted = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if formatted in ("-0", "") else formatted
