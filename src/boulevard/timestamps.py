"""NGSI-LD DateTime strings <-> integer microseconds since the epoch (UTC).

History is stored and compared as integers: ISO strings with and without
fractions do not sort lexically ('…:00.5Z' < '…:00Z').
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_cache: dict[str, int] = {}


def to_micros(text: str) -> int:
    """A validated NGSI-LD DateTime ('…Z', any fraction) as microseconds; ValueError otherwise."""
    hit = _cache.get(text)
    if hit is not None:
        return hit
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    delta = stamp - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if len(_cache) >= 20_000:
        _cache.clear()
    _cache[text] = micros
    return micros


def to_iso(micros: int) -> str:
    """Microseconds as the broker writes system times (``model.now_iso``): UTC, milliseconds, 'Z'."""
    return (_EPOCH + timedelta(microseconds=micros)).isoformat(timespec="milliseconds")[:-6] + "Z"


def now_micros() -> int:
    delta = datetime.now(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_or_none(text: object) -> int | None:
    """``to_micros`` for stored data, which the edge validated: None for anything unreadable."""
    if not isinstance(text, str):
        return None
    try:
        return to_micros(text)
    except ValueError:
        return None
