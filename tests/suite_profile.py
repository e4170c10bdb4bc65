"""Where the suite's time goes: wall and CPU seconds per test file, printed at the end of a run.

CPU is the whole process tree's: this pytest process and everything it started (LocalStack and
its Lambda environments, MLflow, the CDK app's node), live or already reaped, so a file that
deploys a cloud is charged for it. Samples are taken only where the run moves from one file to
the next (a tree walk reads every process on the machine; per test it would cost seconds), so
the session fixtures a file is the first to ask for (the shared cloud) are charged to that file.
In a parallel run (pytest-xdist) each worker measures its own files and its own process tree, and
the controller adds them up.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

#: Files listed by name; the rest are summed in one row.
SHOWN = 25
#: Where a pytest-xdist worker hands its figures to the controller.
WORKER_OUTPUT = "p300_suite_profile"


@dataclass
class FileTime:
    tests: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def add(self, other: "FileTime") -> None:
        self.tests += other.tests
        self.wall_s += other.wall_s
        self.cpu_s += other.cpu_s


def summed(times) -> FileTime:
    total = FileTime()
    for spent in times:
        total.add(spent)
    return total


def tree_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process and all its descendants, with
    the children each of them has reaped."""
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:  # ended between the listing and the read
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


class SuiteProfile:
    def __init__(self, rootdir: Path):
        self.rootdir = rootdir
        self.files: dict[str, FileTime] = {}
        self.current: str | None = None
        self.since: tuple[float, float] = (0.0, 0.0)
        self.started = time.monotonic()

    def _close_current(self) -> None:
        if self.current is None:
            return
        wall, cpu = time.monotonic() - self.since[0], tree_cpu_s() - self.since[1]
        self.files.setdefault(self.current, FileTime()).add(FileTime(0, wall, cpu))
        self.current = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item):
        path = Path(str(item.path))
        name = (
            str(path.relative_to(self.rootdir)) if path.is_relative_to(self.rootdir) else path.name
        )
        if name != self.current:
            self._close_current()
            self.current, self.since = name, (time.monotonic(), tree_cpu_s())
        self.files.setdefault(name, FileTime()).tests += 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session):
        self._close_current()
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # a pytest-xdist worker: its controller prints the table
            workeroutput[WORKER_OUTPUT] = {n: vars(t) for n, t in self.files.items()}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        """On pytest-xdist's controller: add a finished worker's files to the table."""
        for name, spent in getattr(node, "workeroutput", {}).get(WORKER_OUTPUT, {}).items():
            self.files.setdefault(name, FileTime()).add(FileTime(**spent))

    def pytest_terminal_summary(self, terminalreporter):
        if not self.files:
            return
        rows = sorted(self.files.items(), key=lambda kv: kv[1].wall_s, reverse=True)
        total, rest = summed(t for _, t in rows), summed(t for _, t in rows[SHOWN:])
        write = terminalreporter.write_line
        terminalreporter.section("where the time went (wall and CPU s per file, process tree)")
        # In parallel, the files' wall times add up to more than the run's.
        write(f"the run: {time.monotonic() - self.started:.0f} s wall")
        write(f"{'file':<64} {'tests':>5} {'wall s':>7} {'CPU s':>7} {'CPU/wall':>8}")
        shown = rows[:SHOWN] + (
            [(f"({len(rows) - SHOWN} other files)", rest)] if rest.tests else []
        )
        for name, spent in [*shown, ("total", total)]:
            busy = spent.cpu_s / spent.wall_s if spent.wall_s else 0.0
            write(
                f"{name[-64:]:<64} {spent.tests:>5} {spent.wall_s:>7.0f} {spent.cpu_s:>7.0f} "
                f"{busy:>8.2f}"
            )
