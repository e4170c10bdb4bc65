"""Which allocation sites grew between two tracemalloc snapshots (pure: no LocalStack imports).

Run with LocalStack's interpreter on two snapshots written by the ``/_p300/tracemalloc`` endpoint
(see `memory_probe`)::

    .venv-localstack/bin/python -m p300_localstack.diagnostics.memory_growth \
        before.tracemalloc after.tracemalloc --units 50 [--group-by traceback] [--top 15]

It prints the total growth and, per site, the growth in MB, the growth per unit (e.g. per subject
stored between the two snapshots) and the blocks added.
"""

import argparse
import tracemalloc
from collections.abc import Mapping
from dataclasses import dataclass

MB = 2**20
GROUPINGS = ("lineno", "filename", "traceback")
FRAMES_ENV = "P300_TRACEMALLOC"


def frames_setting(environ: Mapping[str, str]) -> int:
    """Frames to keep per allocation from ``P300_TRACEMALLOC``; 0 when tracing is off."""
    value = environ.get(FRAMES_ENV, "").strip()
    if not value:
        return 0
    if not value.isdigit() or not 1 <= int(value) <= 100:
        raise ValueError(f"{FRAMES_ENV} must be a whole number of frames 1..100, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Growth:
    """One allocation site's growth between two snapshots."""

    site: list[str]
    size_diff: int
    count_diff: int


def growth(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, *, group_by: str = "lineno"
) -> list[Growth]:
    """Allocation sites by growth in bytes, largest first.

    Parameters
    ----------
    group_by : str
        'lineno' (one file:line), 'filename', or 'traceback' (every frame kept).
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {GROUPINGS}, got {group_by!r}")
    stats = after.compare_to(before, group_by)
    return sorted(
        (Growth([str(f) for f in s.traceback], s.size_diff, s.count_diff) for s in stats),
        key=lambda g: g.size_diff,
        reverse=True,
    )


def report(sites: list[Growth], *, units: float, top: int) -> str:
    """The total growth and the `top` sites, each in MB and MB per unit."""
    if units <= 0:
        raise ValueError(f"units must be > 0, got {units}")
    total = sum(s.size_diff for s in sites)
    lines = [f"total growth {total / MB:.1f} MB, {total / MB / units:.3f} MB per unit ({units:g})"]
    for s in sites[:top]:
        lines.append(
            f"{s.size_diff / MB:8.2f} MB {s.size_diff / MB / units:7.3f} MB/unit "
            f"{s.count_diff:+9d} blocks  {s.site[-1] if s.site else '?'}"
        )
        lines += [f"{'':>44}{frame}" for frame in reversed(s.site[:-1])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--units", type=float, required=True, help="e.g. subjects added between")
    parser.add_argument("--group-by", choices=GROUPINGS, default="lineno")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    sites = growth(
        tracemalloc.Snapshot.load(args.before),
        tracemalloc.Snapshot.load(args.after),
        group_by=args.group_by,
    )
    print(report(sites, units=args.units, top=args.top))


if __name__ == "__main__":
    main()
