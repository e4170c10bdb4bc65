"""Endpoints telling what the LocalStack process holds in memory.

``GET /_p300/memory`` (always on) answers the process's RSS, the entries of LocalStack's request
parser and response serializer caches (one per service model seen), how many internal boto
clients were built, and the contents the S3 store holds in memory and in spooled files on disk.

With ``P300_TRACEMALLOC=<frames>`` set at start, tracemalloc traces every allocation from then
on and ``POST /_p300/tracemalloc/<label>`` collects garbage, writes a snapshot to
``$TMPDIR/p300-tracemalloc/<label>.tracemalloc`` and answers its path, the traced bytes and the
RSS; `memory_growth` compares two. Tracing slows every allocation: it is for measuring only.
"""

import gc
import json
import os
import re
import tempfile
import tracemalloc

from localstack.aws.connect import ClientFactory
from localstack.aws.protocol.parser import create_parser
from localstack.aws.protocol.serializer import create_serializer
from localstack.http import Request, Response
from localstack.runtime import hooks
from localstack.services.edge import ROUTER

from .memory_growth import frames_setting

MEMORY_PATH = "/_p300/memory"
SNAPSHOT_PATH = "/_p300/tracemalloc/<label>"
LABEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def s3_contents() -> dict:
    """Object contents LocalStack's S3 store holds: how many, bytes in memory, bytes spooled to
    disk (temporary files, one open descriptor each)."""
    from localstack.services.plugins import SERVICE_PLUGINS

    store = SERVICE_PLUGINS.get_service("s3")._provider._storage_backend
    files = [
        f for bucket in list(store._filesystem.values()) for f in list(bucket["keys"].values())
    ]
    in_memory = on_disk = 0
    for file in files:
        with file.position_lock:
            if file.closed:
                continue
            size = file.seek(0, os.SEEK_END)
        if file._rolled:
            on_disk += size
        else:
            in_memory += size
    return {"objects": len(files), "memory_bytes": in_memory, "spooled_bytes": on_disk}


def json_response(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def memory(request: Request) -> Response:
    return json_response(
        {
            "rss_bytes": rss_bytes(),
            "parsers_cached": create_parser.cache_info().currsize,
            "serializers_cached": create_serializer.cache_info().currsize,
            "internal_clients_created": ClientFactory._get_client.cache_info().misses,
            "s3_contents": s3_contents(),
        }
    )


def write_snapshot(request: Request, label: str) -> Response:
    if not LABEL.fullmatch(label):
        return json_response({"error": f"label must match {LABEL.pattern}, got {label!r}"}, 400)
    gc.collect()
    folder = os.path.join(tempfile.gettempdir(), "p300-tracemalloc")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{label}.tracemalloc")
    tracemalloc.take_snapshot().dump(path)
    traced, peak = tracemalloc.get_traced_memory()
    return json_response(
        {"path": path, "traced_bytes": traced, "traced_peak_bytes": peak, "rss_bytes": rss_bytes()}
    )


@hooks.on_infra_start()
def p300_memory_probe() -> None:
    ROUTER.add(MEMORY_PATH, memory, methods=["GET"])
    if frames := frames_setting(os.environ):
        tracemalloc.start(frames)
        ROUTER.add(SNAPSHOT_PATH, write_snapshot, methods=["POST"])
