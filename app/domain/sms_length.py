"""How long a text is on the wire: GSM-7 when every character is in its alphabet (160 per
single segment, 153 per part of a longer one; extension characters count twice), otherwise
UCS-2 (70, then 67 per part). Carriers bill, and old phones split, by segment."""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Length:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or characters (UCS-2)
    segments: int


def measure(text: str) -> Length:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
        single, part, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else -(-units // part)
    return Length(encoding=encoding, units=units, segments=segments)
