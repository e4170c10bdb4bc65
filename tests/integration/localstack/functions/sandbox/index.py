"""Handlers that try to get out of their execution environment; one per escape under test."""

import errno
import os
import subprocess
import sys
import time


def allocate(event, context):
    """Allocate and touch `mb` MB (past MemorySize the environment is killed)."""
    blocks = [bytearray(1024 * 1024) for _ in range(event["mb"])]
    return {"allocated_mb": len(blocks)}


def fill_tmp(event, context):
    """Write `mb` MB into /tmp (TMPDIR); report where it stopped."""
    path = os.path.join(os.environ["TMPDIR"], "filler")
    chunk = b"\0" * (1024 * 1024)
    written = 0
    try:
        with open(path, "wb") as out:
            for _ in range(event["mb"]):
                out.write(chunk)
                written += 1
            out.flush()
            os.fsync(out.fileno())
    except OSError as error:
        return {"written_mb": written, "error": errno.errorcode[error.errno]}
    finally:
        os.unlink(path)
    return {"written_mb": written, "error": None}


def fork_sleepers(event, context):
    """Start a sleeping child (and one in a session of its own), print their PIDs, outlive the
    timeout."""
    child = subprocess.Popen(["sleep", "300"])
    detached = subprocess.Popen(["sleep", "300"], start_new_session=True)
    print(f"children {child.pid} {detached.pid}", flush=True)
    time.sleep(event.get("seconds", 60))


def where_am_i(event, context):
    """Who and where this environment is: user, PID, TMPDIR, and a file left in /tmp."""
    with open(os.path.join(os.environ["TMPDIR"], "mine"), "w") as marker:
        marker.write(context.aws_request_id)
    return {
        "uid": os.getuid(),
        "pid": os.getpid(),
        "tmp": os.environ["TMPDIR"],
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "secret": os.environ.get("SECRET"),
    }


def attempt(event, context):
    """Try each of `attempts` ([what, path]); report what each did: 'allowed' or the error."""
    outcomes = {}
    for what, path in event["attempts"]:
        try:
            if what == "read":
                with open(path, "rb") as source:
                    source.read(64)
            elif what == "write":
                with open(path, "ab") as target:
                    target.write(b"changed")
            elif what == "list":
                os.listdir(path)
            outcomes[f"{what} {path}"] = "allowed"
        except OSError as error:
            outcomes[f"{what} {path}"] = errno.errorcode.get(error.errno, str(error))
    return outcomes


def python_subprocess(event, context):
    """A Python subprocess of the function imports what the function can (boto3, its code)."""
    code = "import boto3, index; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return {"stdout": result.stdout.strip(), "stderr": result.stderr[-500:]}
