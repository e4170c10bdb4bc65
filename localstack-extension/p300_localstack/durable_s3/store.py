"""An S3 object store: LocalStack's in-memory behaviour, plus every write persisted as a blob.

It extends LocalStack's ephemeral store: while running, reads and writes use its spooled temporary
files as before. When a write handle closes, the content is copied into an immutable blob file and
the blob id is recorded on the S3Object (or S3Part) as ``p300_blob_id``. After a restart the
objects come back from the journal without contents; the first read loads the blob lazily.
"""

import os
import threading
from typing import Literal

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

#: Attribute of S3Object / S3Part naming the blob that holds its content.
BLOB_ATTR = "p300_blob_id"


def blob_id_of(item: S3Object | S3Part) -> str | None:
    return getattr(item, BLOB_ATTR, None)


class DurableStoredObject(EphemeralS3StoredObject):
    """A stored object or part whose write handle, on close, saves the content as a blob."""

    def __init__(self, s3_object, file, mode: Literal["r", "w"], *, blobs: BlobStore):
        super().__init__(s3_object, file, mode=mode)
        self._blobs = blobs

    def close(self):
        if self._mode != "w" or self.closed:
            super().close()
            return
        try:
            with self.file.position_lock:
                blob_id = self._blobs.write(self.file)
            setattr(self.s3_object, BLOB_ATTR, blob_id)
        finally:
            super().close()


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
                    store.load_blob(s3_part, file)
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

    def __init__(self, root_directory: str, blobs: BlobStore):
        super().__init__(root_directory)
        self.blobs = blobs
        # Serialises lazy loads so two first readers of a key never load it twice.
        self.load_lock = threading.Lock()

    def open(
        self, bucket: BucketName, s3_object: S3Object, mode: Literal["r", "w"] = "r"
    ) -> DurableStoredObject:
        key = self._key_from_s3_object(s3_object)
        with self.load_lock:
            if not (file := self._get_object_file(bucket, key)):
                bucket_dir = os.path.join(self.root_directory, bucket)
                # Buckets restored from the journal never went through create_bucket.
                os.makedirs(bucket_dir, exist_ok=True)
                file = LockedSpooledTemporaryFile(dir=bucket_dir, max_size=S3_MAX_FILE_SIZE_BYTES)
                if mode == "r":
                    self.load_blob(s3_object, file)
                self._filesystem[bucket]["keys"][key] = file
        return DurableStoredObject(s3_object, file, mode, blobs=self.blobs)

    def copy(
        self,
        src_bucket: BucketName,
        src_object: S3Object,
        dest_bucket: BucketName,
        dest_object: S3Object,
    ) -> DurableStoredObject:
        # An in-place copy (same unversioned key, e.g. to change metadata) shares the content, so
        # the new S3Object must name the same blob; otherwise the write handle gives it a new one.
        setattr(dest_object, BLOB_ATTR, blob_id_of(src_object))
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

    def load_blob(self, item: S3Object | S3Part, file: LockedSpooledTemporaryFile) -> None:
        """Fill a fresh `file` with the blob `item` names (nothing when it names none)."""
        if (blob_id := blob_id_of(item)) is None:
            return
        self.blobs.read_into(blob_id, file)
        file.seek(0)
        file.internal_last_modified = getattr(item, "internal_last_modified", 0)
