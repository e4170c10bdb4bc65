"""Unzip function code and layers ourselves, refusing what could reach outside (pure).

LocalStack's own extraction keeps symbolic links and then changes modes recursively, following
them: a zip holding a link to an outside file made that file world-readable. Here an archive is
refused whole when any entry is a symbolic link or another special file, has an absolute name,
or has a ``..`` part. Files are written read-only (0444, or 0555 when executable in the zip) in
read-only folders (0555), so an environment cannot rewrite code shared by others.
"""

import os
import shutil
import stat
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

COPY_CHUNK_BYTES = 1024 * 1024


class UnsafeArchive(ValueError):
    """The archive holds an entry that could write or point outside its folder."""


def check_entry(info: zipfile.ZipInfo, *, what: str) -> PurePosixPath:
    """The relative path of a safe entry; raises UnsafeArchive naming `what` and the entry."""
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchive(f"{what}: entry {name!r} is a symbolic link; links are not allowed")
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise UnsafeArchive(f"{what}: entry {name!r} is not a regular file or folder")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"{what}: entry {name!r} has an absolute path")
    path = PurePosixPath(name.replace("\\", "/"))
    if ".." in path.parts:
        raise UnsafeArchive(f"{what}: entry {name!r} has a '..' part")
    return path


def extract_zip(archive: Path, target: Path, *, what: str) -> None:
    """Extract `archive` into the new folder `target`, all or nothing.

    Parameters
    ----------
    archive : Path
        The zip file.
    target : Path
        Must not exist; appears (by rename) only once everything is extracted.
    what : str
        What the archive is, for error messages (e.g. "code of function f").

    Raises
    ------
    UnsafeArchive
        When any entry is unsafe (see `check_entry`); nothing is extracted then.
    """
    with zipfile.ZipFile(archive) as zipped:
        entries = [(info, check_entry(info, what=what)) for info in zipped.infolist()]
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
        try:
            for info, path in entries:
                _extract_entry(zipped, info, partial / path)
            _make_read_only(partial)
            partial.rename(target)
        except BaseException:
            remove_tree(partial)
            raise


def _extract_entry(zipped: zipfile.ZipFile, info: zipfile.ZipInfo, destination: Path) -> None:
    if info.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    executable = (info.external_attr >> 16) & 0o111
    with zipped.open(info) as source, os.fdopen(os.open(destination, flags, 0o600), "wb") as out:
        shutil.copyfileobj(source, out, COPY_CHUNK_BYTES)
    modified = time.mktime((*info.date_time, 0, 0, -1))  # as unzip does: bytecode checks it
    os.utime(destination, (modified, modified))
    destination.chmod(0o555 if executable else 0o444)


def _make_read_only(root: Path) -> None:
    for folder, _, _ in os.walk(root, topdown=False):
        os.chmod(folder, 0o555)


def remove_tree(root: Path) -> None:
    """Delete a tree made read-only by `extract_zip` (its folders are made writable first)."""
    if not root.exists():
        return
    for folder, _, _ in os.walk(root):
        os.chmod(folder, 0o755)
    shutil.rmtree(root)
