"""Byte sizes as people read them, the one formatting the pages and the messages share."""

from __future__ import annotations

KB = 1024
MB = 1024 * KB


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
