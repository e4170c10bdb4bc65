"""Which S3 state a successful request changed (pure: no LocalStack imports)."""

from collections.abc import Mapping

#: Operations whose names start with these may change state; every other one only reads.
MUTATING_PREFIXES = (
    "Put",
    "Delete",
    "Create",
    "Complete",
    "Abort",
    "Upload",
    "Copy",
    "Restore",
    "Post",
)
_PART_OPERATIONS = ("UploadPart", "UploadPartCopy")


def touched(
    operation: str, request: Mapping, response: Mapping
) -> list[tuple[str, tuple[str, ...]]]:
    """The (kind, ident) pairs whose state `operation` may have changed.

    Parameters
    ----------
    operation : str
        The S3 operation name, e.g. "PutObject".
    request : Mapping
        The parsed service request (Bucket, Key, UploadId, Delete, ...).
    response : Mapping
        The parsed service response (UploadId of CreateMultipartUpload, Key of PostObject).

    Returns
    -------
    list of (kind, ident)
        kind is "bucket", "key", "mpu" or "part"; ident as in journal.Record. Empty for
        read-only calls. A part is its own thing, so an upload of n parts journals n small
        records rather than the whole upload n times.
    """
    bucket = request.get("Bucket")
    if not bucket or not operation.startswith(MUTATING_PREFIXES):
        return []
    if operation == "CreateMultipartUpload":
        upload_id = response.get("UploadId")
        return [("mpu", (bucket, upload_id))] if upload_id else []
    if operation in _PART_OPERATIONS:
        return [("part", (bucket, request["UploadId"], str(request["PartNumber"])))]
    if operation == "AbortMultipartUpload":
        return [("mpu", (bucket, request["UploadId"]))]
    if operation == "CompleteMultipartUpload":
        return [("key", (bucket, request["Key"])), ("mpu", (bucket, request["UploadId"]))]
    if operation == "DeleteObjects":
        objects = request.get("Delete", {}).get("Objects", [])
        keys = dict.fromkeys(o["Key"] for o in objects)
        return [("key", (bucket, key)) for key in keys]
    if key := request.get("Key") or response.get("Key"):
        return [("key", (bucket, key))]
    return [("bucket", (bucket,))]


def with_unsaved_buckets(
    things: list[tuple[str, tuple[str, ...]]], is_saved
) -> list[tuple[str, tuple[str, ...]]]:
    """`things`, preceded by the bucket of each one whose bucket has no record yet.

    A PUT can reach a new bucket before the CreateBucket that made it is journaled (the two
    requests run concurrently); journaling the bucket with the PUT keeps the PUT restorable.

    Parameters
    ----------
    things : list of (kind, ident)
        What a request touched (see `touched`).
    is_saved : callable
        ``is_saved(bucket_name)``: whether the bucket's record is in the durable state.
    """
    named = {ident[0] for kind, ident in things if kind == "bucket"}
    missing = []
    for _, ident in things:
        if ident[0] not in named and not is_saved(ident[0]):
            named.add(ident[0])
            missing.append(("bucket", ident[:1]))
    return missing + things
