"""Capture LocalStack's live S3 state as journal records, and restore it from them.

A record holds the pickled resulting state of one bucket (its attributes and tags, without objects),
one key (all its versions, in order, with their tags) or one multipart upload (with its parts).
"""

import pickle
import time
from collections.abc import Iterable

from localstack.constants import AWS_REGION_US_EAST_1
from localstack.services.s3.models import (
    KeyStore,
    S3Bucket,
    S3DeleteMarker,
    S3Object,
    S3Part,
    S3Store,
    VersionedKeyStore,
    s3_stores,
)
from localstack.services.s3.utils import get_unique_key_id
from localstack.utils.tagging import Tags

from .journal import Record
from .state import DurableState
from .store import blob_id_of

#: How long to wait for a visible object's writer to close, in s.
BLOB_WAIT_TIMEOUT_S = 30.0
_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


def find_bucket(name: str, account_id: str) -> S3Bucket | None:
    """The live bucket `name`, whichever account owns it (`account_id` is the requester's)."""
    owner = s3_stores[account_id][AWS_REGION_US_EAST_1].global_bucket_map.get(name)
    if owner is None:
        return None
    return s3_stores[owner][AWS_REGION_US_EAST_1].buckets.get(name)


def regional_store(bucket: S3Bucket) -> S3Store:
    """The store holding the bucket's and its objects' tags."""
    return s3_stores[bucket.bucket_account_id][bucket.bucket_region]


def wait_for_blobs(items: Iterable[S3Object | S3Part], *, timeout: float) -> tuple[str, ...]:
    """The blob ids of `items`, waiting for writers that made an item visible before closing."""
    deadline = time.monotonic() + timeout
    blobs = []
    for item in items:
        while (blob_id := blob_id_of(item)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no blob for {item!r} after {timeout} s")
            time.sleep(0.001)
        blobs.append(blob_id)
    return tuple(blobs)


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


def capture_key(name: str, key: str, account_id: str, *, timeout: float) -> Record:
    bucket = find_bucket(name, account_id)
    versions = _key_versions(bucket, key) if bucket is not None else []
    if not versions:
        return Record("key", (name, key), None)
    objects = [v for v in versions if isinstance(v, S3Object)]
    blobs = wait_for_blobs(objects, timeout=timeout)
    tags = regional_store(bucket).tags
    state = {
        "versions": versions,
        "tags": {
            o.version_id: tags.get_tags(get_unique_key_id(name, key, o.version_id)) for o in objects
        },
    }
    return Record("key", (name, key), pickle.dumps(state, _PICKLE_PROTOCOL), blobs)


def capture_multipart(name: str, upload_id: str, account_id: str, *, timeout: float) -> Record:
    bucket = find_bucket(name, account_id)
    multipart = bucket.multiparts.get(upload_id) if bucket is not None else None
    if multipart is None:
        return Record("mpu", (name, upload_id), None)
    blobs = wait_for_blobs(list(multipart.parts.values()), timeout=timeout)
    return Record("mpu", (name, upload_id), pickle.dumps(multipart, _PICKLE_PROTOCOL), blobs)


def _key_versions(bucket: S3Bucket, key: str) -> list[S3Object | S3DeleteMarker]:
    if isinstance(bucket.objects, VersionedKeyStore):
        return list(dict(bucket.objects._store.get(key, {})).values())
    current = bucket.objects.get(key)
    return [current] if current is not None else []


def restore(state: DurableState) -> None:
    """Put every bucket, key and multipart upload of `state` into LocalStack's S3 stores."""
    for entry in state.buckets.values():
        if entry.bucket is None:
            continue
        bucket = _restore_bucket(pickle.loads(entry.bucket.payload))
        tags = regional_store(bucket).tags
        for record in entry.keys.values():
            _restore_key(bucket, tags, record.ident[1], pickle.loads(record.payload))
        for record in entry.mpus.values():
            multipart = pickle.loads(record.payload)
            bucket.multiparts[multipart.id] = multipart


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


def _restore_key(bucket: S3Bucket, tags: Tags, key: str, state: dict) -> None:
    versions = state["versions"]
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
