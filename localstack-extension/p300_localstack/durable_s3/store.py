"""An S3 object store: LocalStack's in-memory behaviour, plus every write persisted as a blob.

It extends LocalStack's ephemeral store: while running, reads and writes use its spooled temporary
files as before. When a write handle closes, the content is copied into an immutable blob file and
the blob's reference (id, size, MD5) is recorded on the S3Object (or S3Part) as ``p300_blob``; a
failed copy is recorded as ``p300_blob_error`` instead. After a restart the objects come back from
the journal without contents; the first read loads the blob lazily and checks its size and MD5.
"""

import math
import os
import threading
from collections.abc import Callable
from typing import ClassVar, Literal

from localstack.aws.api.s3 import BucketName
from localstack.services.s3.models import S3Multipart, S3Object, S3Part
from localstack.services.s3.storage.ephemeral import (
    S3_MAX_FILE_SIZE_BYTES,
    EphemeralS3ObjectStore,
    EphemeralS3StoredMultipart,
    EphemeralS3StoredObject,
    LockedSpooledTemporaryFile,
)

from .blobs import BlobStore
from .journal import BlobRef
from .resident import ResidentContents

#: Attribute of S3Object / S3Part holding its blob's reference, a plain (id, size, md5) tuple.
BLOB_ATTR = "p300_blob"
#: Attribute holding why writing the blob failed.
BLOB_ERROR_ATTR = "p300_blob_error"
#: The attribute of records written before sizes and digests were kept: the blob id alone.
LEGACY_BLOB_ATTR = "p300_blob_id"


class BlobWriteFailed(OSError):
    """The content of an object or part could not be saved as a blob."""


def blob_of(item: S3Object | S3Part) -> BlobRef | None:
    """The blob holding `item`'s content; None while its writer is still open.

    Raises BlobWriteFailed when writing the blob failed.
    """
    if (ref := getattr(item, BLOB_ATTR, None)) is not None:
        return BlobRef(*ref)
    if (error := getattr(item, BLOB_ERROR_ATTR, None)) is not None:
        raise BlobWriteFailed(error)
    if (legacy := getattr(item, LEGACY_BLOB_ATTR, None)) is not None:
        return BlobRef(legacy, None, None)
    return None


def set_blob(item: S3Object | S3Part, ref: BlobRef | None) -> None:
    setattr(item, BLOB_ATTR, None if ref is None else tuple(ref))


class DurableStoredObject(EphemeralS3StoredObject):
    """A stored object or part whose write handle, on close, saves the content as a blob."""

    def __init__(
        self,
        s3_object,
        file,
        mode: Literal["r", "w"],
        *,
        blobs: BlobStore,
        on_close: Callable[[BlobRef | None], None] | None = None,
    ):
        super().__init__(s3_object, file, mode=mode)
        self._blobs = blobs
        # Told once, when the handle closes, the blob written (None when nothing was written).
        self._on_close = on_close

    def close(self):
        ref = None
        try:
            # A file the provider already removed (a rejected write, e.g. a bad Content-MD5) has
            # nothing to save: the provider raises its own error.
            if self._mode != "w" or self.closed or self.file.closed:
                super().close()
                return
            try:
                with self.file.position_lock:
                    ref = self._blobs.write(self.file)
                set_blob(self.s3_object, ref)
            except OSError as error:
                setattr(self.s3_object, BLOB_ERROR_ATTR, f"saving the content failed: {error}")
                raise BlobWriteFailed(error.errno, f"saving the content failed: {error}") from error
            finally:
                super().close()
        finally:
            if self._on_close is not None:
                on_close, self._on_close = self._on_close, None
                on_close(ref)


class DurableStoredMultipart(EphemeralS3StoredMultipart):
    """The parts of a multipart upload; a part missing after a restart is loaded from its blob."""

    _s3_store: "DurableS3ObjectStore"

    def open(self, s3_part: S3Part, mode: Literal["r", "w"] = "r") -> DurableStoredObject:
        store = self._s3_store
        with store.load_lock:
            if not (file := self.parts.get(s3_part.part_number)):
                file = LockedSpooledTemporaryFile(
                    dir=self.upload_dir, max_size=S3_MAX_FILE_SIZE_BYTES
                )
                if mode == "r":
                    what = (
                        f"part {s3_part.part_number} of multipart upload {self.s3_multipart.id} "
                        f"in bucket {self.bucket}"
                    )
                    try:
                        store.load_blob(s3_part, file, what=what)
                    except BaseException:
                        file.close()
                        raise
                self.parts[s3_part.part_number] = file
        return DurableStoredObject(s3_part, file, mode, blobs=store.blobs)


class DurableS3ObjectStore(EphemeralS3ObjectStore):
    """LocalStack's ephemeral store plus blob files (see the module docstring).

    Parameters
    ----------
    root_directory : str
        Private directory for the spooled temporary files (emptied by the caller at start).
    blobs : BlobStore
        Where contents are persisted.
    """

    #: Bytes of contents saved as blobs kept in memory; infinite keeps them all (LocalStack's way).
    resident_limit_bytes: ClassVar[float] = math.inf

    def __init__(self, root_directory: str, blobs: BlobStore):
        super().__init__(root_directory)
        self.blobs = blobs
        # Serialises lazy loads so two first readers of a key never load it twice; also guards
        # `resident` and the evictions.
        self.load_lock = threading.Lock()
        self.resident = ResidentContents()

    def open(
        self, bucket: BucketName, s3_object: S3Object, mode: Literal["r", "w"] = "r"
    ) -> DurableStoredObject:
        key = self._key_from_s3_object(s3_object)
        resident_key = (bucket, key)
        with self.load_lock:
            if file := self._get_object_file(bucket, key):
                self.resident.used(resident_key)
            else:
                bucket_dir = os.path.join(self.root_directory, bucket)
                # Buckets restored from the journal never went through create_bucket.
                os.makedirs(bucket_dir, exist_ok=True)
                file = LockedSpooledTemporaryFile(dir=bucket_dir, max_size=S3_MAX_FILE_SIZE_BYTES)
                if mode == "r":
                    try:
                        self.load_blob(s3_object, file, what=f"s3://{bucket}/{s3_object.key}")
                    except BaseException:
                        file.close()  # never keep a half-loaded file: the next read retries
                        raise
                    if (ref := blob_of(s3_object)) is not None:
                        self.resident.saved(resident_key, ref.size or 0)
                self._filesystem[bucket]["keys"][key] = file
            if mode == "w":  # the content changes: it matches no blob until the handle closes
                self.resident.forget(resident_key)
            self.resident.pin(resident_key)

        def closed(ref: BlobRef | None) -> None:
            with self.load_lock:
                self.resident.unpin(resident_key)
                if ref is not None and self._get_object_file(bucket, key) is file:
                    self.resident.saved(resident_key, ref.size or 0)
                self._evict()

        return DurableStoredObject(s3_object, file, mode, blobs=self.blobs, on_close=closed)

    def _evict(self) -> None:
        """Drop the least recently used unpinned contents beyond `resident_limit_bytes` (their
        blobs hold them); the caller holds `load_lock`."""
        for bucket, key in self.resident.to_evict(self.resident_limit_bytes):
            if file := self._filesystem.get(bucket, {}).get("keys", {}).pop(key, None):
                file.close()

    def remove(self, bucket: BucketName, s3_object: S3Object | list[S3Object]) -> None:
        with self.load_lock:
            for item in s3_object if isinstance(s3_object, list) else [s3_object]:
                self.resident.forget((bucket, self._key_from_s3_object(item)))
        super().remove(bucket, s3_object)

    def delete_bucket(self, bucket: BucketName) -> None:
        with self.load_lock:
            for key in list(self._filesystem.get(bucket, {}).get("keys", {})):
                self.resident.forget((bucket, key))
        super().delete_bucket(bucket)

    def close(self) -> None:
        with self.load_lock:
            self.resident = ResidentContents()
        super().close()

    def copy(
        self,
        src_bucket: BucketName,
        src_object: S3Object,
        dest_bucket: BucketName,
        dest_object: S3Object,
    ) -> DurableStoredObject:
        # An in-place copy (same unversioned key, e.g. to change metadata) shares the content, so
        # the new S3Object must name the same blob; otherwise the write handle gives it a new one.
        set_blob(dest_object, blob_of(src_object))
        return super().copy(src_bucket, src_object, dest_bucket, dest_object)

    def get_multipart(
        self, bucket: BucketName, s3_multipart: S3Multipart
    ) -> DurableStoredMultipart:
        with self._lock_multipart_create:
            if not (multipart := self._get_multipart(bucket, s3_multipart.id)):
                upload_dir = self._create_upload_directory(bucket, s3_multipart.id)
                multipart = DurableStoredMultipart(self, bucket, s3_multipart, upload_dir)
                self._filesystem[bucket]["multiparts"][s3_multipart.id] = multipart
        return multipart

    def forget_contents(self, bucket: BucketName, s3_objects: list[S3Object]) -> None:
        """Drop the in-memory contents of `s3_objects` (a rolled-back write left the new content
        there): the next read loads the blob their restored records name."""
        self.remove(bucket, s3_objects)

    def forget_part(self, bucket: BucketName, upload_id: str, part_number: int) -> None:
        multipart = self._get_multipart(bucket, upload_id)
        if multipart is not None and (file := multipart.parts.pop(part_number, None)):
            file.close()

    def load_blob(
        self, item: S3Object | S3Part, file: LockedSpooledTemporaryFile, *, what: str
    ) -> None:
        """Fill a fresh `file` with the blob `item` names (nothing when it names none), checking
        its size and MD5; raises BlobMismatch naming `what` when they differ."""
        if (ref := blob_of(item)) is None:
            return
        self.blobs.read_into(ref, file, what=what)
        file.seek(0)
        file.internal_last_modified = getattr(item, "internal_last_modified", 0)
