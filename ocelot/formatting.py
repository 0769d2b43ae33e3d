"""Human-readable values shared by the CLI tables and the notification messages."""

from __future__ import annotations


def duration(seconds: float | None, sep: str = "") -> str:
    """``0.4s``, ``12s``, ``1m02s``, ``2h03m04s`` (``sep=" "``: ``1m 02s``, for prose);
    ``-`` when unknown. Tenths below 10 s: queue waits and short stages are mostly that small."""
    if seconds is None:
        return "-"
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f}s"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{sep}{minutes:02d}m{sep}{secs:02d}s"
    if minutes:
        return f"{minutes}m{sep}{secs:02d}s"
    return f"{secs}s"
