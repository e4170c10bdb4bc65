"""S3 contents no longer held in memory for as long as the object exists (memory bound).

LocalStack's S3 keeps every object's bytes in a spooled temporary file, in memory up to 512 KB
each, until the object is deleted: the process grew by what the cloud stored (0.63 MB per
subject in `bench/bench_scaling.py`, docs/scaling.md). Durable S3 already saves every content
as a blob on disk, so here its store keeps at most `RESIDENT_LIMIT_BYTES` of them in memory,
dropping the least recently used one no request has open; its next read loads the blob again
(checking size and MD5). Without durable S3 (no ``P300_S3_DATA_DIR``) this changes nothing.
"""

from localstack.utils.patch import Patch

from p300_localstack.durable_s3.store import DurableS3ObjectStore

#: Contents kept in memory, in bytes: a few hundred subjects' recent objects.
RESIDENT_LIMIT_BYTES = 16 * 2**20


def s3_contents_evicted_from_memory() -> list[Patch]:
    """Durable S3 keeps at most RESIDENT_LIMIT_BYTES of contents in memory."""
    return [Patch(DurableS3ObjectStore, "resident_limit_bytes", RESIDENT_LIMIT_BYTES)]
