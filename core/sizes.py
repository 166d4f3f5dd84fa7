"""Sizes as people read them: bytes (72.0 MB) and counts (7.6M parameters), the one formatting the pages, the CLI's
human output and the messages share (JSON keeps raw numbers)."""

from __future__ import annotations

KB = 1024
MB = 1024 * KB
# Count units, largest last; a count is shown in the smallest unit whose one-decimal figure stays under 1000, so
# 999_950 is "1.0M", never "1000.0k".
COUNT_UNITS = ((1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T"))


def format_bytes(size: float, exact: bool = False) -> str:
    """72.0 MB, 3.5 KB or 12 bytes; `exact` drops a trailing .0 (for limits such as "50 MB")."""
    if size >= 1024 * MB:
        text = f"{size / (1024 * MB):.1f} GB"
    elif size >= MB:
        text = f"{size / MB:.1f} MB"
    elif size >= KB:
        text = f"{size / KB:.1f} KB"
    else:
        return f"{size:.0f} bytes"
    return text.replace(".0 ", " ") if exact else text


def format_count(count: float, exact: bool = False) -> str:
    """950, 1.2k, 7.6M or 2.0B; `exact` gives every digit with thousands separators (2,595) where a difference of
    a few matters, as in "measured at 2,595 chunks, now 2,600"."""
    if exact or abs(round(count)) < COUNT_UNITS[0][0]:
        return f"{round(count):,}"
    size, unit = next(((s, u) for s, u in COUNT_UNITS if abs(round(count / s, 1)) < 1000), COUNT_UNITS[-1])
    return f"{count / size:.1f}{unit}"
