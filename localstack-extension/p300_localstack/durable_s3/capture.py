"""Capture LocalStack's live S3 state as journal records, restore it, and roll it back.

A record holds the pickled resulting state of one bucket (its attributes and tags, without
objects), one key (all its versions, in order, with their tags), one multipart upload (without its
parts) or one part. Restoring puts records into LocalStack's stores; rolling back replaces the live
state of one thing with its durable records, after a change to it could not be journaled.
"""

import copy
import pickle
import time
from collections.abc import Iterable

from localstack.constants import AWS_REGION_US_EAST_1
from localstack.services.s3.models import (
    KeyStore,
    S3Bucket,
    S3DeleteMarker,
    S3Multipart,
    S3Object,
    S3Part,
    S3Store,
    VersionedKeyStore,
    s3_stores,
)
from localstack.services.s3.utils import get_unique_key_id
from localstack.utils.tagging import Tags

from .journal import BlobRef, Record
from .state import DurableState
from .store import BLOB_ATTR, BLOB_ERROR_ATTR, DurableS3ObjectStore, blob_of, set_blob

_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


class BlobsPending(Exception):
    """Some items are visible but their writers have not closed yet (their blobs are coming)."""

    def __init__(self, items: list[S3Object | S3Part]):
        super().__init__(f"{len(items)} contents are still being written")
        self.items = items


def find_bucket(name: str, account_id: str) -> S3Bucket | None:
    """The live bucket `name`, whichever account owns it (`account_id` is the requester's)."""
    owner = s3_stores[account_id][AWS_REGION_US_EAST_1].global_bucket_map.get(name)
    if owner is None:
        return None
    return s3_stores[owner][AWS_REGION_US_EAST_1].buckets.get(name)


def regional_store(bucket: S3Bucket) -> S3Store:
    """The store holding the bucket's and its objects' tags."""
    return s3_stores[bucket.bucket_account_id][bucket.bucket_region]


def blob_refs(items: Iterable[S3Object | S3Part]) -> tuple[BlobRef, ...]:
    """The blobs of `items`, without waiting: raises BlobsPending when a writer is still open,
    BlobWriteFailed when one failed."""
    refs, pending = [], []
    for item in items:
        ref = blob_of(item)
        (pending if ref is None else refs).append(item if ref is None else ref)
    if pending:
        raise BlobsPending(pending)
    return tuple(refs)


def wait_for_blobs(items: list[S3Object | S3Part], *, timeout: float) -> None:
    """Wait (holding no lock) until each item's writer closed, successfully or not."""
    deadline = time.monotonic() + timeout
    for item in items:
        while blob_of_or_error(item) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no content saved for {item!r} after {timeout} s")
            time.sleep(0.001)


def blob_of_or_error(item: S3Object | S3Part) -> object:
    return getattr(item, BLOB_ERROR_ATTR, None) or blob_of(item)


def capture_bucket(name: str, account_id: str) -> Record:
    bucket = find_bucket(name, account_id)
    if bucket is None:
        return Record("bucket", (name,), None)
    attributes = {k: v for k, v in vars(bucket).items() if k not in ("objects", "multiparts")}
    state = {
        "attributes": attributes,
        "versioned": isinstance(bucket.objects, VersionedKeyStore),
        "tags": regional_store(bucket).tags.get_tags(bucket.bucket_arn),
    }
    return Record("bucket", (name,), pickle.dumps(state, _PICKLE_PROTOCOL))


def capture_key(name: str, key: str, account_id: str) -> Record:
    bucket = find_bucket(name, account_id)
    versions = key_versions(bucket, key) if bucket is not None else []
    if not versions:
        return Record("key", (name, key), None)
    objects = [v for v in versions if isinstance(v, S3Object)]
    blobs = blob_refs(objects)
    tags = regional_store(bucket).tags
    state = {
        "versions": versions,
        "tags": {
            o.version_id: tags.get_tags(get_unique_key_id(name, key, o.version_id)) for o in objects
        },
    }
    return Record("key", (name, key), pickle.dumps(state, _PICKLE_PROTOCOL), blobs)


def capture_multipart(name: str, upload_id: str, account_id: str) -> Record:
    """The upload without its parts: each part has its own record."""
    multipart = _live_multipart(name, upload_id, account_id)
    if multipart is None:
        return Record("mpu", (name, upload_id), None)
    without_parts = copy.copy(multipart)
    without_parts.parts = {}
    return Record("mpu", (name, upload_id), pickle.dumps(without_parts, _PICKLE_PROTOCOL))


def capture_part(name: str, upload_id: str, part_number: str, account_id: str) -> Record:
    multipart = _live_multipart(name, upload_id, account_id)
    part = multipart.parts.get(part_number) if multipart is not None else None
    ident = (name, upload_id, part_number)
    if part is None:
        return Record("part", ident, None)
    return Record("part", ident, pickle.dumps(part, _PICKLE_PROTOCOL), blob_refs([part]))


def _live_multipart(name: str, upload_id: str, account_id: str) -> S3Multipart | None:
    bucket = find_bucket(name, account_id)
    return bucket.multiparts.get(upload_id) if bucket is not None else None


def key_versions(bucket: S3Bucket, key: str) -> list[S3Object | S3DeleteMarker]:
    if isinstance(bucket.objects, VersionedKeyStore):
        return list(dict(bucket.objects._store.get(key, {})).values())
    current = bucket.objects.get(key)
    return [current] if current is not None else []


# Restore ---------------------------------------------------------------------------------------
def restore(state: DurableState) -> None:
    """Put every bucket, key and multipart upload of `state` into LocalStack's S3 stores
    (records that belong to nothing were reported by recovery and are skipped)."""
    for entry in state.buckets.values():
        if entry.bucket is not None:
            _restore_bucket_records(list(_entry_records(entry)))


def _entry_records(entry) -> Iterable[Record]:
    yield entry.bucket
    yield from entry.keys.values()
    for upload in entry.uploads.values():
        if upload.record is not None:
            yield upload.record
            yield from upload.parts.values()


def _restore_bucket_records(records: list[Record]) -> S3Bucket:
    """Rebuild a bucket from its records (its own first, then keys, uploads and their parts)."""
    bucket = _restore_bucket(pickle.loads(records[0].payload))
    tags = regional_store(bucket).tags
    for record in records[1:]:
        _restore_record(bucket, tags, record)
    return bucket


def _restore_record(bucket: S3Bucket, tags: Tags, record: Record) -> None:
    if record.kind == "key":
        _restore_key(bucket, tags, record)
    elif record.kind == "mpu":
        multipart = pickle.loads(record.payload)
        live = bucket.multiparts.get(multipart.id)
        multipart.parts.update(live.parts if live is not None else {})
        bucket.multiparts[multipart.id] = multipart
    else:
        multipart = bucket.multiparts.get(record.ident[1])
        if multipart is not None:
            multipart.parts[record.ident[2]] = _with_blob(pickle.loads(record.payload), record)


def _restore_bucket(state: dict) -> S3Bucket:
    bucket = S3Bucket.__new__(S3Bucket)
    vars(bucket).update(state["attributes"])
    bucket.objects = VersionedKeyStore() if state["versioned"] else KeyStore()
    bucket.multiparts = {}
    store = regional_store(bucket)
    store.buckets[bucket.name] = bucket
    store.global_bucket_map[bucket.name] = bucket.bucket_account_id
    if state["tags"]:
        store.tags.update_tags(bucket.bucket_arn, state["tags"])
    return bucket


def _restore_key(bucket: S3Bucket, tags: Tags, record: Record) -> None:
    key, state = record.ident[1], pickle.loads(record.payload)
    versions = [_with_blob(v, record) for v in state["versions"]]
    if isinstance(bucket.objects, VersionedKeyStore):
        for version in versions:
            # Enabling versioning renames existing objects to the "null" version in place,
            # without a record for each key: apply that rename here.
            version.version_id = version.version_id or "null"
            bucket.objects._store[key][version.version_id] = version
    else:
        bucket.objects.set(key, versions[-1])
    for version_id, version_tags in state["tags"].items():
        if version_tags:
            tags.update_tags(get_unique_key_id(bucket.name, key, version_id), version_tags)


def _with_blob(item, record: Record):
    """`item` naming its blob by the record's reference (records written before sizes and
    digests were kept name it by id alone)."""
    if isinstance(item, S3Object | S3Part):
        ref = blob_of(item)
        for recorded in record.blobs:
            if ref is not None and recorded.id == ref.id:
                set_blob(item, recorded if recorded.size is not None else ref)
    return item


# Rollback --------------------------------------------------------------------------------------
def undo(
    kind: str,
    ident: tuple[str, ...],
    records: list[Record],
    *,
    account_id: str,
    store: DurableS3ObjectStore,
) -> set[str]:
    """Replace the live state of one thing with its durable `records` (none: it has no durable
    state, so it goes); returns the ids of the blobs the dropped live state named."""
    bucket = find_bucket(ident[0], account_id)
    if kind == "bucket":
        dropped = _drop_bucket(bucket, store) if bucket is not None else set()
        if records:
            _restore_bucket_records(records)
        return dropped
    if bucket is None:
        return set()
    if kind == "key":
        return _undo_key(bucket, ident[1], records, store)
    if kind == "mpu":
        return _undo_multipart(bucket, ident[1], records, store)
    return _undo_part(bucket, ident, records, store)


def _undo_key(bucket: S3Bucket, key: str, records: list[Record], store) -> set[str]:
    live = key_versions(bucket, key)
    tags = regional_store(bucket).tags
    for version in live:
        tags.delete_all_tags(get_unique_key_id(bucket.name, key, version.version_id))
    objects = [v for v in live if isinstance(v, S3Object)]
    store.forget_contents(bucket.name, objects)
    bucket.objects._store.pop(key, None)  # both key stores keep a key's state in _store
    if records:
        _restore_key(bucket, tags, records[0])
    return _blob_ids(objects)


def _undo_multipart(bucket: S3Bucket, upload_id: str, records: list[Record], store) -> set[str]:
    live = bucket.multiparts.pop(upload_id, None)
    if live is not None:
        store.remove_multipart(bucket.name, live)
    if records:
        tags = regional_store(bucket).tags
        for record in records:
            _restore_record(bucket, tags, record)
    return _blob_ids(live.parts.values()) if live is not None else set()


def _undo_part(bucket: S3Bucket, ident: tuple[str, ...], records: list[Record], store) -> set[str]:
    multipart = bucket.multiparts.get(ident[1])
    if multipart is None:
        return set()
    live = multipart.parts.pop(ident[2], None)
    store.forget_part(bucket.name, ident[1], int(ident[2]))
    if records:
        multipart.parts[ident[2]] = _with_blob(pickle.loads(records[0].payload), records[0])
    return _blob_ids([live]) if live is not None else set()


def _drop_bucket(bucket: S3Bucket, store: DurableS3ObjectStore) -> set[str]:
    items = [v for key in list(bucket.objects._store) for v in key_versions(bucket, key)]
    items += [p for m in bucket.multiparts.values() for p in m.parts.values()]
    regional = regional_store(bucket)
    regional.buckets.pop(bucket.name, None)
    regional.global_bucket_map.pop(bucket.name, None)
    regional.tags.delete_all_tags(bucket.bucket_arn)
    store.delete_bucket(bucket.name)
    return _blob_ids(i for i in items if isinstance(i, S3Object | S3Part))


def _blob_ids(items: Iterable[S3Object | S3Part]) -> set[str]:
    ids = set()
    for item in items:
        ref = getattr(item, BLOB_ATTR, None)
        if ref is not None:
            ids.add(ref[0])
    return ids
