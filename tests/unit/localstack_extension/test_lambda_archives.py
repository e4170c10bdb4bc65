"""Our own unzipping of function code and layers: safe entries only, read-only result."""

import io
import os
import stat
import time
import zipfile

import pytest
from p300_localstack.lambda_runtime.archives import UnsafeArchive, extract_zip, remove_tree


def archive(tmp_path, entries: list[tuple[str, bytes, int]]):
    """A zip of (name, content, unix mode) entries, written to tmp_path/code.zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 5, 17, 9, 30, 12))
            info.create_system = 3
            info.external_attr = mode << 16
            zipped.writestr(info, content)
    path = tmp_path / "code.zip"
    path.write_bytes(buffer.getvalue())
    return path


def test_code_is_extracted_read_only_keeping_executable_bits(tmp_path):
    path = archive(
        tmp_path,
        [
            ("index.py", b"def handler(e, c): pass\n", 0o100644),
            ("bin/tool", b"#!/bin/sh\n", 0o100755),
            ("pkg/", b"", 0o040755),
            ("pkg/mod.py", b"X = 1\n", 0o100600),
        ],
    )
    target = tmp_path / "code"

    extract_zip(path, target, what="the code of f")

    assert (target / "index.py").read_bytes() == b"def handler(e, c): pass\n"
    assert stat.S_IMODE((target / "index.py").stat().st_mode) == 0o444
    assert stat.S_IMODE((target / "bin/tool").stat().st_mode) == 0o555
    assert stat.S_IMODE((target / "pkg").stat().st_mode) == 0o555
    assert stat.S_IMODE(target.stat().st_mode) == 0o555
    assert time.localtime((target / "index.py").stat().st_mtime)[:6] == (2024, 5, 17, 9, 30, 12)
    remove_tree(target)
    assert not target.exists()


@pytest.mark.parametrize(
    ("name", "mode", "reason"),
    [
        ("leak", 0o120777, "entry 'leak' is a symbolic link; links are not allowed"),
        ("/etc/cron.d/job", 0o100644, "entry '/etc/cron.d/job' has an absolute path"),
        ("../outside.py", 0o100644, r"entry '../outside.py' has a '..' part"),
        ("pkg/../../outside.py", 0o100644, r"entry 'pkg/../../outside.py' has a '..' part"),
        ("C:/windows.py", 0o100644, "entry 'C:/windows.py' has an absolute path"),
        ("fifo", 0o010644, "entry 'fifo' is not a regular file or folder"),
    ],
)
def test_an_unsafe_entry_refuses_the_whole_archive(tmp_path, name, mode, reason):
    """LocalStack's extraction kept symbolic links and chmod'ed through them (issue #19)."""
    outside = tmp_path / "outside.key"
    outside.write_text("secret")
    outside.chmod(0o600)
    path = archive(
        tmp_path, [("index.py", b"x = 1\n", 0o100644), (name, str(outside).encode(), mode)]
    )

    with pytest.raises(UnsafeArchive, match=rf"^layer L: {reason}"):
        extract_zip(path, tmp_path / "code", what="layer L")

    assert not (tmp_path / "code").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".partial")] == []
    assert stat.S_IMODE(outside.stat().st_mode) == 0o600


def test_a_failure_half_way_leaves_nothing(tmp_path, monkeypatch):
    path = archive(tmp_path, [("a.py", b"a", 0o100644), ("b.py", b"b", 0o100644)])
    real_open = os.open
    calls = []

    def failing_open(file, flags, mode=0o777, **kwargs):
        if str(file).endswith("b.py"):
            calls.append(file)
            raise OSError(28, "No space left on device")
        return real_open(file, flags, mode, **kwargs)

    monkeypatch.setattr("p300_localstack.lambda_runtime.archives.os.open", failing_open)
    with pytest.raises(OSError, match="No space left"):
        extract_zip(path, tmp_path / "code", what="code")
    assert calls and not (tmp_path / "code").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["code.zip"]
