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
_PART_OPERATIONS = ("UploadPart", "UploadPartCopy", "AbortMultipartUpload")


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
        kind is "bucket", "key" or "mpu"; ident as in journal.Record. Empty for read-only calls.
    """
    bucket = request.get("Bucket")
    if not bucket or not operation.startswith(MUTATING_PREFIXES):
        return []
    if operation == "CreateMultipartUpload":
        upload_id = response.get("UploadId")
        return [("mpu", (bucket, upload_id))] if upload_id else []
    if operation in _PART_OPERATIONS:
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
