"""The pure parts of environment isolation: what to hide, ids, /tmp images, memory groups."""

import os
import signal
import subprocess
import sys

import pytest
from p300_localstack.lambda_runtime.runtimes import exit_description
from p300_localstack.lambda_runtime.sandbox import (
    CGROUP_V1,
    CGROUP_V2,
    IdPool,
    MemoryGroup,
    Support,
    copy_sparse,
)
from p300_localstack.lambda_runtime.sandbox_entry import visible_plan


def test_the_plan_hides_folders_others_cannot_enter_and_private_ones():
    blocked = {"/root", "/tmp/pytest-of-root"}
    plan = visible_plan(
        needed=[
            "/root/.pyenv/versions/3.13.0",
            "/tmp/pytest-of-root/p-1/home/lambda/code/abc",
            "/tmp/pytest-of-root/p-1/home/lambda/envs/e1",
            "/usr/lib/python3",
        ],
        private={
            "/tmp/pytest-of-root/p-1/home/lambda/code": ["abc", "layer1"],
            "/tmp/pytest-of-root/p-1/home/lambda/envs": ["e1"],
        },
        blocks_others=blocked.__contains__,
    )
    assert plan == {
        "/root": {".pyenv"},
        "/tmp/pytest-of-root": {"p-1"},
        "/tmp/pytest-of-root/p-1/home/lambda/code": {"abc", "layer1"},
        "/tmp/pytest-of-root/p-1/home/lambda/envs": {"e1"},
    }
    assert list(plan)[:2] == ["/root", "/tmp/pytest-of-root"]  # outer folders first


def test_the_plan_never_replaces_the_root_folder():
    assert visible_plan(["/srv/code"], {}, lambda folder: True) == {"/srv": {"code"}}


def test_ids_are_unique_while_held_even_across_processes(tmp_path):
    pool = IdPool(tmp_path, base=1000, count=3)
    first, first_fd = pool.acquire()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
         str(tmp_path / "1")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        second, _ = pool.acquire()
        assert (first, second) == (1000, 1002)
        with pytest.raises(RuntimeError, match="all 3 environment user ids are in use"):
            pool.acquire()
        IdPool.release(first_fd)
        assert pool.acquire()[0] == 1000
    finally:
        holder.kill()
        holder.wait()


def test_a_sparse_copy_keeps_data_and_holes(tmp_path):
    source = tmp_path / "image"
    with open(source, "wb") as out:
        out.truncate(64 * 1024 * 1024)
        out.seek(1024 * 1024)
        out.write(b"superblock")
        out.seek(40 * 1024 * 1024)
        out.write(b"inode table")
    copy = tmp_path / "copy"
    copy_sparse(source, copy)
    assert copy.read_bytes() == source.read_bytes()
    assert copy.stat().st_blocks * 512 < 1024 * 1024  # holes stay holes
    assert copy.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("flavour", "events", "peak"),
    [
        (CGROUP_V1, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "134217728\n"),
        (CGROUP_V2, "low 0\nhigh 0\nmax 5\noom 3\noom_kill 2\n", "134217728\n"),
    ],
)
def test_a_memory_group_reads_its_kills_and_peak_in_both_versions(tmp_path, flavour, events, peak):
    (tmp_path / flavour.events).write_text(events)
    (tmp_path / flavour.peak).write_text(peak)
    (tmp_path / "cgroup.procs").write_text("")
    group = MemoryGroup(tmp_path, flavour)
    assert (group.oom_kills(), group.peak_mb(), group.pids()) == (2, 128, [])


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (3, "exit status 3"),
        (-signal.SIGKILL, "signal: killed"),
        (-signal.SIGSEGV, "signal: segmentation fault"),
    ],
)
def test_process_ends_are_named_as_aws_does(code, expected):
    assert exit_description(code) == expected


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a memory cgroup needs root")
def test_a_real_memory_group_kills_what_passes_its_limit():
    from p300_localstack.lambda_runtime.sandbox import _memory_hierarchies

    v1 = [mount for mount, flavour in _memory_hierarchies() if flavour is CGROUP_V1]
    if not v1:
        pytest.skip("no cgroup v1 memory controller here")
    group = MemoryGroup.create(v1[0], CGROUP_V1, f"p300-unit-{os.getpid()}", 64)
    try:
        child = subprocess.Popen(
            [sys.executable, "-c",
             f"open({str(group.procs_file)!r}, 'w').write(str(__import__('os').getpid())); "
             "x = bytearray(200 * 1024 * 1024)"],
        )  # fmt: skip
        assert child.wait(timeout=60) == -signal.SIGKILL
        assert group.oom_kills() == 1
    finally:
        group.remove()
    assert not group.path.exists()


def test_the_startup_line_says_what_isolation_there_is_and_why_not_more(tmp_path):
    full = Support(users=True, cgroups=tmp_path, flavour=CGROUP_V1, tmp_images=True)
    degraded = Support(off=["LocalStack does not run as root, so it cannot switch users or mount"])
    assert full.describe() == (
        "p300 Lambda sandbox: each environment runs as its own user in a private mount "
        f"namespace; memory is limited to MemorySize by cgroup v1 ({tmp_path}); /tmp is a private "
        "ext4 image of EphemeralStorage MB"
    )
    assert degraded.describe() == (
        "p300 Lambda sandbox: environments run as LocalStack's user; memory is limited to "
        "MemorySize by RLIMIT_DATA (MemoryError, not a kill); /tmp is a private folder without a "
        "size limit (not isolated further: LocalStack does not run as root, so it cannot switch "
        "users or mount)"
    )
