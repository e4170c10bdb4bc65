"""The executor's side of environment isolation: users, memory cgroups, /tmp images.

What this host allows is found once (`support`) and logged at start:

- **users**: when LocalStack runs as root and the kernel has mount namespaces with open_tree and
  move_mount (5.2+), each environment runs as a user of its own (ids from 2100000000, allocated
  machine-wide with lock files in /run/p300-lambda/ids) in a private mount namespace; see
  sandbox_entry.py for what the environment does with that.
- **memory**: a memory cgroup per environment, limited to MemorySize (the v1 memory controller,
  or cgroup v2 where the executor may create child groups with the memory controller); without
  one, RLIMIT_DATA.
- **/tmp**: with root, ``mkfs.ext4`` and loop devices, a fresh ext4 image of EphemeralStorage MB
  per environment process, copied from a template made once; otherwise a plain folder.
"""

import contextlib
import fcntl
import functools
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

LOG = logging.getLogger(__name__)
ID_BASE = 2_100_000_000
ID_COUNT = 100_000
ID_LOCKS = Path("/run/p300-lambda/ids")
CGROUP_GROUP = "p300-lambda"
ENTRY = Path(__file__).with_name("sandbox_entry.py")
_template_lock = threading.Lock()


@dataclass(frozen=True)
class CgroupFlavour:
    """File names of one cgroup version's memory controller."""

    version: str
    limit: str
    swap_limit: str
    events: str
    peak: str


CGROUP_V1 = CgroupFlavour(
    "v1", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.oom_control",
    "memory.max_usage_in_bytes",
)  # fmt: skip
CGROUP_V2 = CgroupFlavour("v2", "memory.max", "memory.swap.max", "memory.events", "memory.peak")


@dataclass
class Support:
    """What isolation this host allows (see the module docstring); `off` says why not."""

    users: bool = False
    cgroups: Path | None = None
    flavour: CgroupFlavour | None = None
    tmp_images: bool = False
    off: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [
            "each environment runs as its own user in a private mount namespace"
            if self.users
            else "environments run as LocalStack's user",
            f"memory is limited to MemorySize by cgroup {self.flavour.version} ({self.cgroups})"
            if self.cgroups
            else "memory is limited to MemorySize by RLIMIT_DATA (MemoryError, not a kill)",
            "/tmp is a private ext4 image of EphemeralStorage MB"
            if self.tmp_images
            else "/tmp is a private folder without a size limit",
        ]
        reasons = f" (not isolated further: {'; '.join(self.off)})" if self.off else ""
        return "p300 Lambda sandbox: " + "; ".join(parts) + reasons


@functools.cache
def support() -> Support:
    """What this host allows, found once (and leftover groups of dead LocalStacks removed)."""
    found = Support()
    if os.geteuid() != 0:
        found.off.append("LocalStack does not run as root, so it cannot switch users or mount")
        return found
    found.users = _namespaces_work(found.off)
    found.cgroups, found.flavour = _memory_cgroups(found.off)
    found.tmp_images = bool(shutil.which("mkfs.ext4")) and Path("/dev/loop-control").exists()
    if not found.tmp_images:
        found.off.append("no mkfs.ext4 or loop devices for a size-limited /tmp")
    return found


def remove_instance_group() -> None:
    """Remove this LocalStack's cgroup folder (at a clean stop, after its environments)."""
    if support.cache_info().currsize and support().cgroups is not None:
        with contextlib.suppress(OSError):
            support().cgroups.rmdir()


def _namespaces_work(off: list[str]) -> bool:
    probe = f"import runpy; runpy.run_path({str(ENTRY)!r})['probe']('/etc')"
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no reason given"])[-1]
        off.append(f"private mount namespaces do not work here ({reason})")
    return result.returncode == 0


def _memory_cgroups(off: list[str]) -> tuple[Path | None, CgroupFlavour | None]:
    """The folder under which environments get memory groups, created for this LocalStack."""
    hierarchies = _memory_hierarchies()
    if not hierarchies:
        off.append("no memory cgroup controller is mounted")
    for mount_point, flavour in hierarchies:
        parent = mount_point / CGROUP_GROUP
        try:
            parent.mkdir(exist_ok=True)
            if flavour is CGROUP_V2:
                (mount_point / "cgroup.subtree_control").write_text("+memory")
                (parent / "cgroup.subtree_control").write_text("+memory")
            _remove_dead_instances(parent, flavour)
            instance = parent / f"{os.getpid()}-{_start_ticks(os.getpid())}"
            instance.mkdir(exist_ok=True)
            if flavour is CGROUP_V2:
                (instance / "cgroup.subtree_control").write_text("+memory")
            return instance, flavour
        except OSError as error:
            off.append(f"cannot create memory cgroups under {mount_point} ({error})")
    return None, None


def _memory_hierarchies() -> list[tuple[Path, CgroupFlavour]]:
    found = []
    with open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            fields = line.split()
            separator = fields.index("-")
            fstype, options = fields[separator + 1], fields[separator + 3].split(",")
            mount_point = Path(fields[4])
            if fstype == "cgroup" and "memory" in options:
                found.append((mount_point, CGROUP_V1))
            elif fstype == "cgroup2" and "memory" in _read(mount_point / "cgroup.controllers"):
                found.append((mount_point, CGROUP_V2))
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks (with the PID, it names one process for good)."""
    return _read(Path(f"/proc/{pid}/stat")).rsplit(")", 1)[-1].split()[19]


def _remove_dead_instances(parent: Path, flavour: CgroupFlavour) -> None:
    """Kill what is left in the groups of LocalStacks that died (kill -9) and remove them."""
    for instance in parent.iterdir():
        if not instance.is_dir():
            continue
        pid, _, ticks = instance.name.partition("-")
        alive = pid.isdigit() and Path(f"/proc/{pid}").exists() and _start_ticks(int(pid)) == ticks
        if not alive:
            for group in [p for p in instance.iterdir() if p.is_dir()]:
                MemoryGroup(group, flavour).remove()
            with contextlib.suppress(OSError):
                instance.rmdir()


class MemoryGroup:
    """One environment's memory cgroup."""

    def __init__(self, path: Path, flavour: CgroupFlavour):
        self.path = path
        self.flavour = flavour

    @classmethod
    def create(cls, parent: Path, flavour: CgroupFlavour, name: str, limit_mb: int):
        path = parent / name
        path.mkdir(exist_ok=True)
        limit = str(limit_mb * 1024 * 1024)
        (path / flavour.limit).write_text(limit)
        if (path / flavour.swap_limit).exists():  # no swapping past the limit either
            (path / flavour.swap_limit).write_text(limit if flavour is CGROUP_V1 else "0")
        return cls(path, flavour)

    @property
    def procs_file(self) -> Path:
        return self.path / "cgroup.procs"

    def pids(self) -> list[int]:
        return [int(pid) for pid in _read(self.procs_file).split()]

    def oom_kills(self) -> int:
        for line in _read(self.path / self.flavour.events).splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
        return 0

    def peak_mb(self) -> int:
        value = _read(self.path / self.flavour.peak).strip()
        return int(value) // (1024 * 1024) if value.isdigit() else 0

    def kill_all(self, *, timeout: float = 5.0) -> None:
        """SIGKILL every process in the group until it is empty (forks racing included)."""
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for _ in range(100):  # the kernel frees a group a moment after its last process
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


class IdPool:
    """User ids for environments, unique across every LocalStack on this machine: an id is held
    by an exclusive lock on its file, which the kernel releases when the holder dies."""

    def __init__(self, directory: Path = ID_LOCKS, *, base: int = ID_BASE, count: int = ID_COUNT):
        self.directory = directory
        self.base = base
        self.count = count

    def acquire(self) -> tuple[int, int]:
        """(id, lock fd); release with `release(fd)`."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for n in range(self.count):
            fd = os.open(self.directory / str(n), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return self.base + n, fd
        raise RuntimeError(f"all {self.count} environment user ids are in use")

    @staticmethod
    def release(fd: int) -> None:
        os.close(fd)


def tmp_image(templates: Path, size_mb: int, destination: Path) -> None:
    """A fresh, empty ext4 image of `size_mb` MB at `destination` (sparse; the template of that
    size is made once with mkfs.ext4)."""
    template = templates / f"ext4-{size_mb}mb.img"
    with _template_lock:  # concurrent cold starts of one size make it once
        if not template.exists():
            templates.mkdir(parents=True, exist_ok=True)
            partial = template.with_suffix(f".{os.getpid()}.partial")
            with open(partial, "wb") as out:
                out.truncate(size_mb * 1024 * 1024)
            subprocess.run(
                ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
                 "-E", "lazy_itable_init=1,lazy_journal_init=1", str(partial)],
                check=True, capture_output=True,
            )  # fmt: skip
            partial.replace(template)
    copy_sparse(template, destination)


def copy_sparse(source: Path, destination: Path) -> None:
    """Copy only the data of a sparse file (holes stay holes)."""
    with open(source, "rb") as src, open(destination, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        dst.truncate(size)
        position = 0
        while position < size:
            try:
                start = os.lseek(src.fileno(), position, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            end = os.lseek(src.fileno(), start, os.SEEK_HOLE)
            src.seek(start)
            dst.seek(start)
            dst.write(src.read(end - start))
            position = end
    os.chmod(destination, 0o600)
