"""Enter an execution environment's sandbox: the first thing bootstrap.py does, before any code
of the function is imported. Standard library only (it runs under the function's interpreter).

With a sandbox spec from a root executor (see sandbox.py), the process, still root:

1. joins the environment's memory cgroup, so MemorySize is enforced from here on;
2. enters a private mount namespace, in which every folder the function needs but another user
   could not reach (e.g. an interpreter under /root) is replaced by a read-only tmpfs showing only
   what is needed, and the folders of code and of environments show only this environment's own;
3. mounts its /tmp: a fresh ext4 image of EphemeralStorage MB on a loop device (ENOSPC when
   full, as on AWS; disk-backed, so it does not count as memory), owned by the environment's user;
4. drops to the environment's own user and group (no supplementary groups, no new privileges).

Without a user in the spec (LocalStack not running as root), only the memory limit is applied,
as RLIMIT_DATA (allocations beyond it fail with MemoryError instead of a kill).
"""

import ctypes
import errno
import fcntl
import os
import resource
import struct
import sys
from collections.abc import Callable
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 0x4000, 1 << 18
SYS_OPEN_TREE, SYS_MOVE_MOUNT = 428, 429  # the same number on every architecture
OPEN_TREE_CLONE, AT_RECURSIVE, MOVE_MOUNT_F_EMPTY_PATH = 1, 0x8000, 4
AT_FDCWD = -100
PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 4, 38
LOOP_CTL_GET_FREE, LOOP_CONFIGURE, LO_FLAGS_AUTOCLEAR = 0x4C82, 0x4C0A, 4
#: struct loop_config: u32 fd, u32 block_size, struct loop_info64 (232 bytes), u64 reserved[8].
LOOP_CONFIG_SIZE = 4 + 4 + 232 + 64
LOOP_INFO_FLAGS_OFFSET = 8 + 8 * 5 + 4 * 3  # lo_flags inside loop_config

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = ""):
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def enter(spec: dict) -> None:
    """Apply the sandbox `spec` (see the module docstring); the process runs unprivileged after."""
    if spec.get("cgroup_procs"):
        Path(spec["cgroup_procs"]).write_text(str(os.getpid()))
    if spec.get("uid") is None:
        if not spec.get("cgroup_procs"):
            limit = spec["memory_mb"] * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        return
    _check(_libc.unshare(CLONE_NEWNS), "unshare of the mount namespace")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    needed = [os.path.realpath(p) for p in [*spec["paths"], sys.base_prefix, sys.prefix]]
    for folder, children in visible_plan(needed, spec["private"], _blocks_others).items():
        show_only(folder, children)
    if spec.get("tmp_image"):
        mount_image(spec["tmp_image"], spec["tmp_dir"])
    os.chown(spec["tmp_dir"], spec["uid"], spec["gid"])
    os.chmod(spec["tmp_dir"], 0o700)
    os.setgroups([])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    # Changing user made the process non-dumpable (its /proc files root's): make them its own
    # user's again, which no other environment shares.
    _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")


def visible_plan(
    needed: list[str], private: dict[str, list[str]], blocks_others: Callable[[str], bool]
) -> dict[str, set[str]]:
    """Which folders to replace, and the children each must still show: every folder on the
    way to a needed path that other users cannot enter, and every private folder.

    Returns folders in order from the root down (a folder before the folders inside it).
    """
    plan = {folder: set(children) for folder, children in private.items()}
    for path in needed:
        parts = Path(path).parts
        for depth in range(2, len(parts)):  # never "/" itself
            folder = str(Path(*parts[:depth]))
            if folder in plan or blocks_others(folder):
                plan.setdefault(folder, set()).add(parts[depth])
    return dict(sorted(plan.items(), key=lambda item: len(Path(item[0]).parts)))


def _blocks_others(folder: str) -> bool:
    return not os.stat(folder).st_mode & 0o001


def show_only(folder: str, children: set[str]) -> None:
    """In this mount namespace, make `folder` a read-only tmpfs holding only `children`, each
    the original (bind-mounted); whatever else was there is out of sight."""
    clones = {}
    for child in sorted(children):
        source = os.path.join(folder, child)
        if os.path.lexists(source):
            flags = OPEN_TREE_CLONE | AT_RECURSIVE | os.O_CLOEXEC
            clones[child] = (
                _check(_libc.syscall(SYS_OPEN_TREE, AT_FDCWD, source.encode(), flags), source),
                os.path.isdir(source),
            )
    _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
    for child, (fd, is_dir) in clones.items():
        target = os.path.join(folder, child)
        if is_dir:
            os.mkdir(target)
        else:
            open(target, "x").close()
        _check(
            _libc.syscall(
                SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH
            ),
            f"move_mount {target}",
        )
        os.close(fd)
    _mount(None, folder, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def mount_image(image: str, target: str) -> None:
    """Mount the ext4 `image` at `target` through a free loop device that detaches itself
    when unmounted (when the last process of this namespace exits)."""
    image_fd = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    try:
        loop_fd, device = _attach_loop(image_fd)
    finally:
        os.close(image_fd)
    try:
        _mount(device, target, "ext4", MS_NOSUID | MS_NODEV)
    finally:
        os.close(loop_fd)  # the mount holds the device now; autoclear frees it after


def _attach_loop(image_fd: int) -> tuple[int, str]:
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(50):  # another process may take the free device first: ask again
            device = f"/dev/loop{fcntl.ioctl(control, LOOP_CTL_GET_FREE)}"
            loop_fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
            config = bytearray(LOOP_CONFIG_SIZE)
            struct.pack_into("<I", config, 0, image_fd)
            struct.pack_into("<I", config, LOOP_INFO_FLAGS_OFFSET, LO_FLAGS_AUTOCLEAR)
            try:
                fcntl.ioctl(loop_fd, LOOP_CONFIGURE, bytes(config))
                return loop_fd, device
            except OSError as error:
                os.close(loop_fd)
                if error.errno != errno.EBUSY:
                    raise
        raise OSError(errno.EBUSY, "no free loop device after 50 attempts")
    finally:
        os.close(control)


def probe(folder: str) -> None:
    """Check that this kernel allows what `enter` does, on `folder` (an existing folder with at
    least one entry): a private mount namespace, open_tree, tmpfs, move_mount. Raises OSError
    when not. Run it in a throwaway process: it leaves that process in the namespace."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare of the mount namespace")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    show_only(folder, {sorted(os.listdir(folder))[0]})
