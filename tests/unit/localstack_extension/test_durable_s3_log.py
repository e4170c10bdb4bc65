"""The live journal: commits, compaction (and crashes in it), the disk reserve, rollbacks."""

import errno
import io
import os
import subprocess
import uuid

import pytest
from p300_localstack.durable_s3 import log as log_module
from p300_localstack.durable_s3 import state as state_module
from p300_localstack.durable_s3.blobs import BlobStore
from p300_localstack.durable_s3.journal import Record
from p300_localstack.durable_s3.log import ChangeUndone, DiskFull, DurableLog
from p300_localstack.durable_s3.recovery import recover


def key_record(name: str, payload: bytes | None = b"state", blobs=()) -> Record:
    return Record("key", ("bkt", name), payload, blobs)


BUCKET = Record("bucket", ("bkt",), b"bucket")


def open_log(data_dir, **options) -> DurableLog:
    """A started log whose state has bucket 'bkt'."""
    log = DurableLog(data_dir, **options)
    log.open()
    if not log.state.has_bucket("bkt"):
        commit(log, BUCKET)
    return log


def commit(log: DurableLog, record: Record, *, started: float = 0.0) -> list[Record]:
    return log.commit([(record.kind, record.ident)], lambda: [record], started=started)


def state_keys(data_dir) -> dict[str, bytes]:
    """The keys a strict recovery of `data_dir` finds, with their payloads."""
    recovery = recover(data_dir, BlobStore(data_dir / "blobs"), mode="strict")
    return {r.ident[1]: r.payload for r in recovery.state.records() if r.kind == "key"}


@pytest.fixture
def log(tmp_path):
    log = open_log(tmp_path / "s3", compact_bytes=2_000)
    yield log
    log.close()


def test_commits_compact_and_keep_the_previous_generation(log):
    for n in range(100):
        commit(log, key_record(f"k{n % 10}", f"v{n}".encode()))
    generation = log.generation
    assert generation > 2
    names = sorted(p.name for p in log.data_dir.iterdir() if p.suffix in (".snap", ".log"))
    assert names == [
        f"journal-{generation - 1}.log",
        f"journal-{generation}.log",
        f"snapshot-{generation - 1}.snap",
        f"snapshot-{generation}.snap",
    ]
    log.close()
    assert state_keys(log.data_dir) == {f"k{k}": f"v{90 + k}".encode() for k in range(10)}


def test_the_data_directory_is_private(log):
    assert os.stat(log.data_dir).st_mode & 0o777 == 0o700


CRASH_POINTS = {
    # the name of what to replace in which module -> crash before or after the real call
    "after the new journal was created": (log_module, "write_snapshot", "before"),
    "in the middle of writing the snapshot": (state_module, "encode_record", "third call"),
    "after the snapshot was renamed": (state_module, "fsync_directory", "before"),
    "after switching, before removing old files": (
        log_module,
        "remove_generations_before",
        "before",
    ),
    "while removing old files": (state_module.Path, "unlink", "after"),
}


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_kill_at_each_step_of_compaction_loses_nothing(tmp_path, point):
    """The process is killed (os._exit, as by kill -9: no cleanup) at each step of a compaction;
    a strict recovery must then find every committed record."""
    data_dir = tmp_path / "s3"
    pid = os.fork()
    if pid == 0:  # the child commits, then dies in the compaction
        try:
            log = open_log(data_dir, compact_bytes=1_000_000)
            for n in range(20):
                commit(log, key_record(f"k{n}", f"v{n}".encode()))
            log.compact()  # one complete compaction first, so that older files exist
            for n in range(20, 30):
                commit(log, key_record(f"k{n}", f"v{n}".encode()))
            _crash_at(*CRASH_POINTS[point])
            log.compact()
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9, "the child did not reach the crash point"
    assert state_keys(data_dir) == {f"k{n}": f"v{n}".encode() for n in range(30)}
    again = open_log(data_dir)  # and the next start goes on from there
    commit(again, key_record("after", b"crash"))
    again.close()
    assert state_keys(data_dir)["after"] == b"crash"


def _crash_at(owner, name: str, when: str) -> None:
    real = getattr(owner, name)
    calls = []

    def crashing(*args, **kwargs):
        calls.append(1)
        if when == "before" or (when == "third call" and len(calls) == 3):
            os._exit(9)
        result = real(*args, **kwargs)
        if when == "after" and str(args[0]).endswith((".snap", ".log")):
            os._exit(9)
        return result

    setattr(owner, name, crashing)


def test_writes_that_would_eat_the_reserve_are_refused(log, monkeypatch):
    monkeypatch.setattr(log_module, "free_bytes", lambda directory: 1_500)
    with pytest.raises(DiskFull, match=r"not enough disk space for durable S3 in .*s3: 0.0 MiB"):
        commit(log, key_record("refused"))
    with pytest.raises(DiskFull, match="are kept free so that the journal can always be compacted"):
        log.blobs.write(io.BytesIO(b"content"))
    monkeypatch.undo()
    commit(log, key_record("accepted"))
    log.close()
    assert list(state_keys(log.data_dir)) == ["accepted"]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_compaction_does_not_fail_the_commit_and_is_retried_later(tmp_path, monkeypatch):
    clock = FakeClock()
    log = open_log(tmp_path / "s3", compact_bytes=300, clock=clock)
    attempts = []

    def full_disk(*args):
        attempts.append(clock.now)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(log_module, "write_snapshot", full_disk)
    for n in range(10):  # each commit crosses the threshold
        assert commit(log, key_record(f"k{n}", b"x" * 100))
    clock.now += 1.5  # the first back-off (1 s) has passed
    commit(log, key_record("later", b"y"))
    assert attempts == [100.0, 101.5]
    monkeypatch.undo()
    clock.now += 2.5  # the second back-off (2 s) has passed: the compaction succeeds
    commit(log, key_record("last", b"z"))
    assert log.generation == 2
    log.close()
    assert len(state_keys(log.data_dir)) == 12


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs mounted for the test (needs root: mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mount_point = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], check=True)
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_disk_full_during_compaction_then_space_comes_back(small_disk, caplog):
    """A real full disk (tmpfs of 1 MiB): the compaction fails cleanly, writes are refused with a
    clear error while the disk is full, and everything resumes once space is freed."""
    data_dir = small_disk / "s3"
    log = open_log(data_dir, compact_bytes=64 * 1024)
    for n in range(20):
        commit(log, key_record(f"k{n}", b"x" * 2_000))
    filler = small_disk / "filler"
    with open(filler, "wb") as out, pytest.raises(OSError, match="No space left"):
        for _ in range(1 * 16 + 1):  # one 64 KiB block more than the disk holds
            out.write(b"\0" * 65536)
            out.flush()
    log.compact()  # as at a clean stop
    assert "compaction at stop failed, the journal stays: [Errno 28]" in caplog.text
    assert not list(data_dir.glob("*.tmp"))
    with pytest.raises(DiskFull, match="MiB free"):
        commit(log, key_record("refused"))
    filler.unlink()
    commit(log, key_record("accepted"))
    log.compact()
    assert log.generation == 2 and (data_dir / "snapshot-2.snap").exists()
    log.close()
    keys = state_keys(data_dir)
    assert len(keys) == 21 and "refused" not in keys


def test_a_rollback_fails_requests_that_started_before_it(log):
    durable = key_record("k", b"durable")
    commit(log, durable)
    undone = []

    def undo(kind, ident, records):
        undone.append((kind, ident, records))
        return set()

    log.rollback([("key", ("bkt", "k"))], undo)
    assert undone == [("key", ("bkt", "k"), [durable])]
    with pytest.raises(ChangeUndone, match="a concurrent change to key bkt/k could not be saved"):
        commit(log, key_record("k", b"raced"), started=log.clock() - 1)
    commit(log, key_record("k", b"retried"), started=log.clock() + 1)
    commit(log, key_record("other", b"unrelated"), started=0.0)


def test_a_rollback_deletes_the_blobs_no_record_names(log):
    kept = log.blobs.write(io.BytesIO(b"durable content"))
    commit(log, key_record("k", b"durable", (kept,)))
    dropped = log.blobs.write(io.BytesIO(b"failed write"))
    log.rollback([("key", ("bkt", "k"))], lambda kind, ident, records: {kept.id, dropped.id})
    assert sorted(p.name for p in log.blobs.root.iterdir()) == [kept.id]


@pytest.mark.parametrize(("target", "fails"), [("", "journal"), ("blob", "blob")])
def test_the_fault_file_fails_journal_appends_or_blob_writes(tmp_path, target, fails):
    fault = tmp_path / "fault"
    log = open_log(tmp_path / "s3", fault_file=fault)
    fault.write_text(target)
    if fails == "journal":
        with pytest.raises(OSError, match="journal write failed: fault injected"):
            commit(log, key_record("k"))
        log.blobs.write(io.BytesIO(b"blobs still work"))
    else:
        with pytest.raises(OSError, match="blob write failed: fault injected"):
            log.blobs.write(io.BytesIO(b"x"))
        commit(log, key_record("k"))
    fault.unlink()
    commit(log, key_record("after"))
    log.close()


def test_a_data_dir_serves_one_process_at_a_time(tmp_path):
    first = DurableLog(tmp_path)
    with pytest.raises(RuntimeError, match="is in use by another process"):
        DurableLog(tmp_path)
    first.close()
    DurableLog(tmp_path).close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"compact_bytes": 0}, "compact_bytes must be > 0, got 0"),
        (
            {"recovery": "lenient"},
            r"recovery must be one of \('strict', 'salvage'\), got 'lenient'",
        ),
    ],
)
def test_bad_options_are_refused(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        DurableLog(tmp_path, **options)


def test_a_closed_log_refuses_commits(log):
    log.close()
    with pytest.raises(OSError, match="closed"):
        commit(log, key_record("late"))
