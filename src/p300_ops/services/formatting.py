"""Durations as people read them, the same in the CLI's tables and the console's pages."""

from datetime import UTC, datetime


def duration_s(start: datetime, stop: datetime | None, *, now: datetime | None = None) -> float:
    """Seconds from ``start`` to ``stop`` (to ``now`` while still running)."""
    return ((stop or now or datetime.now(UTC)) - start).total_seconds()


def format_duration(seconds: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
