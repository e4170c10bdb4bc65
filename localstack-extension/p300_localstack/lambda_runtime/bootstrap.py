"""Runtime interface of one Lambda execution environment; run by the function's own interpreter.

Standard library only: it runs under the function's Python (e.g. .venv-lambda), not LocalStack's.
Init outcome is posted to LocalStack's executor endpoint,
``$LOCALSTACK_RUNTIME_ENDPOINT/status/<runtime id>/ready|error``. Invocations come from our executor
(executor.py) as ``POST /invoke`` over one kept-alive connection: the body is the event JSON as is,
the request id, invoked ARN and trace id are headers, and the answer carries the logs and the result
(see `InvokeServer`). Answering on the same request, rather than posting logs and result back
through LocalStack's HTTP gateway as LocalStack's own runtime does, saves two trips through
LocalStack's request handlers and a JSON re-encoding of the payload per invocation.

A timed-out or exited invocation ends this process; the executor starts a fresh one (re-init) for
the next invocation, as AWS does.
"""

import contextlib
import ctypes
import http.client
import http.server
import importlib
import importlib.util
import io
import json
import logging
import math
import os
import queue
import resource
import signal
import sys
import threading
import time
import traceback
import urllib.parse

PR_SET_PDEATHSIG = 1
#: How long a process about to end waits for its last answer to reach the executor, in s.
ANSWER_WAIT_S = 5.0
LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"


def die_with_parent(parent_pid: int, cgroup_procs: str | None) -> None:
    """End this environment's processes when LocalStack dies: the kernel's parent-death signal
    (SIGTERM, handled by killing them all), with a PID watchdog as a fallback. They are this
    process group (bootstrap.py leads its own session) and, when the environment has a memory
    cgroup, every process in it (children that started sessions of their own)."""

    def end_group(*_) -> None:
        pids = []
        with contextlib.suppress(OSError, TypeError), open(cgroup_procs) as procs:
            pids = [int(pid) for pid in procs.read().split()]
        for pid in pids:
            if pid != os.getpid():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        if os.getpgid(0) == os.getpid():  # never the group of whoever started us otherwise
            os.killpg(0, signal.SIGKILL)
        os._exit(1)

    signal.signal(signal.SIGTERM, end_group)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the watchdog still applies
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        end_group()

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        end_group()

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def enter_sandbox() -> dict:
    """Apply the executor's sandbox spec (``P300_SANDBOX``, see sandbox_entry.py) while no code
    of the function has run, then put the function's code and layers on the import path and
    load the interpreter's site-packages (the executor starts Python with -I -S, so that nothing
    the function ships, such as a sitecustomize.py, runs before this)."""
    spec = os.environ.pop("P300_SANDBOX", None)
    spec = json.loads(spec) if spec is not None else {}
    if spec:
        location = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_entry.py")
        module_spec = importlib.util.spec_from_file_location("p300_sandbox_entry", location)
        sandbox_entry = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(sandbox_entry)
        sandbox_entry.enter(spec)
    python_path = os.environ.pop("P300_PYTHONPATH", None)
    if python_path is not None:
        sys.path[0:0] = python_path.split(os.pathsep)
        os.environ["PYTHONPATH"] = python_path  # for the function's own Python subprocesses
        if sys.flags.no_site:
            import site

            site.main()
    os.chdir(os.environ.get("LAMBDA_TASK_ROOT", "."))
    return spec


class LogCapture(io.TextIOBase):
    """A text stream that collects what the function writes and mirrors it to the real stdout."""

    def __init__(self, mirror) -> None:
        self._mirror = mirror
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        self._mirror.write(text)
        return len(text)

    def flush(self) -> None:
        self._mirror.flush()

    def take(self) -> str:
        """Everything written since the last call."""
        with self._lock:
            text, self._parts = "".join(self._parts), []
        return text


class RequestIdFilter(logging.Filter):
    """Stamps log records with the current request id, as the AWS runtime's log format needs."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def post_to_localstack(path: str, body: bytes) -> None:
    """POST to LocalStack's executor endpoint (``$LOCALSTACK_RUNTIME_ENDPOINT`` + `path`)."""
    url = urllib.parse.urlsplit(os.environ["LOCALSTACK_RUNTIME_ENDPOINT"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request("POST", url.path + path, body, {"Content-Type": "application/json"})
        conn.getresponse().read()
    finally:
        conn.close()


def post_status(what: str, body: dict | None = None) -> None:
    """Post the init outcome, `what` 'ready' or 'error', to LocalStack's executor endpoint."""
    runtime_id = os.environ["LOCALSTACK_RUNTIME_ID"]
    post_to_localstack(f"/status/{runtime_id}/{what}", json.dumps(body or {}).encode())


def post_back(invocation: "Invocation") -> None:
    """Earlier executors' protocol: post the logs, then the result, to LocalStack's endpoint.

    Executors before the one-reply exchange (still running in LocalStack instances started
    earlier, which read this file from the same installation) answer nothing on ``/invoke``.
    """
    kind, logs, body, _ = invocation.outcome()
    prefix = f"/invocations/{invocation.request_id}"
    post_to_localstack(f"{prefix}/logs", json.dumps({"logs": logs}).encode())
    post_to_localstack(f"{prefix}/{kind}", body)
    invocation.answered()


class Invocation:
    """One invocation from the executor, and the slot its outcome is handed back through."""

    def __init__(self, request_id: str, function_arn: str, trace_id: str, payload: bytes) -> None:
        self.request_id = request_id
        self.function_arn = function_arn
        self.trace_id = trace_id
        self.payload = payload
        self._outcome: queue.Queue = queue.Queue(maxsize=1)
        self._answered = threading.Event()

    def finish(self, kind: str, logs: str, body: bytes, *, ending: bool) -> None:
        """Hand over the outcome: `kind` 'response' or 'error', the logs, the raw result, and
        whether this process ends after it."""
        self._outcome.put((kind, logs, body, ending))

    def outcome(self) -> tuple[str, str, bytes, bool]:
        return self._outcome.get()

    def answered(self) -> None:
        self._answered.set()

    def wait_answered(self, timeout_s: float) -> None:
        """Wait until the executor got the outcome (before this process ends)."""
        self._answered.wait(timeout_s)


class InvokeServer(http.server.BaseHTTPRequestHandler):
    """Answers the executor's ``POST /invoke`` with the invocation's outcome.

    Request: the event JSON as the body; headers ``X-Invoke-Id``, ``X-Invoked-Function-Arn``,
    ``X-Trace-Id``. Answer 200: ``X-Result-Kind`` 'response' or 'error', ``X-Logs-Bytes`` n; the
    body is the n bytes of UTF-8 logs followed by the raw result. ``Connection: close`` says this
    process ends after the answer (timeout, exit), so the executor starts a new one.
    """

    protocol_version = "HTTP/1.1"  # keep the executor's connection open between invocations
    disable_nagle_algorithm = True  # small writes would otherwise wait for delayed ACKs (40 ms)
    invocations: queue.Queue

    def do_POST(self) -> None:
        if "X-Invoke-Id" not in self.headers:
            self._accept_earlier_protocol()
            return
        invocation = Invocation(
            self.headers["X-Invoke-Id"],
            self.headers.get("X-Invoked-Function-Arn", ""),
            self.headers.get("X-Trace-Id", ""),
            self.rfile.read(int(self.headers.get("Content-Length", 0))),
        )
        self.invocations.put(invocation)
        kind, logs, body, ending = invocation.outcome()
        encoded_logs = logs.encode()
        self.send_response(200)
        self.send_header("X-Result-Kind", kind)
        self.send_header("X-Logs-Bytes", str(len(encoded_logs)))
        if ending:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(encoded_logs) + len(body)))
        self.end_headers()
        self.wfile.write(encoded_logs)
        self.wfile.write(body)
        self.wfile.flush()
        invocation.answered()

    def _accept_earlier_protocol(self) -> None:
        """A JSON invocation from an earlier executor: answer 200 now, post the outcome later."""
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        invocation = Invocation(
            request["invoke-id"],
            request.get("invoked-function-arn") or "",
            request.get("trace-id") or "",
            (request.get("payload") or "").encode(),
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        threading.Thread(target=post_back, args=(invocation,), daemon=True).start()
        self.invocations.put(invocation)

    def log_message(self, *args) -> None:
        pass


class Context:
    """The `context` argument of a handler, with the attributes the AWS runtime provides."""

    def __init__(self, invocation: Invocation, deadline: float) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = invocation.function_arn
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = invocation.request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_body(error_type: str, message: str, stack: list[str], request_id: str = "") -> dict:
    body = {"errorMessage": message, "errorType": error_type, "stackTrace": stack}
    if request_id:
        body["requestId"] = request_id
    return body


def load_handler(spec: str):
    """Import the handler named by `spec` ('module.function'); return (handler, None) or
    (None, AWS-shaped init error)."""
    module_name, _, function_name = spec.rpartition(".")
    if not module_name or not function_name:
        message = f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)"
        return None, error_body("Runtime.MalformedHandlerName", message, [])
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        return None, error_body("Runtime.ImportModuleError", message, [])
    except SyntaxError as exc:
        message = f"Syntax error in module '{module_name}': {exc}"
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        return None, error_body("Runtime.UserCodeSyntaxError", message, trace)
    except SystemExit as exc:
        message = f"Runtime exited with error: exit status {exc.code}"
        return None, error_body("Runtime.ExitError", message, [])
    except Exception as exc:
        return None, exception_body(exc)
    handler = getattr(module, function_name, None)
    if handler is None:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        return None, error_body("Runtime.HandlerNotFound", message, [])
    return handler, None


def exception_body(exc: BaseException, request_id: str = "") -> dict:
    stack = traceback.format_list(traceback.extract_tb(exc.__traceback__))
    return error_body(type(exc).__name__, str(exc), stack, request_id)


def report_line(request_id: str, duration_ms: float, init_ms: float | None) -> str:
    memory_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    used_mb = peak_memory_mb()
    init = f"Init Duration: {init_ms:.2f} ms\t" if init_ms is not None else ""
    return (
        f"REPORT RequestId: {request_id}\t{init}Duration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {used_mb} MB\t\n"
    )


def peak_memory_mb() -> int:
    """Peak resident memory of this process in MB (VmHWM: unlike ru_maxrss it is not inherited
    from LocalStack, the process that forked us)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def utc_timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class Runtime:
    """Runs invocations one at a time in the main thread; a timer enforces the timeout."""

    def __init__(self, capture: LogCapture, handler, init_ms: float):
        self.capture = capture
        self.handler = handler
        self.init_ms: float | None = init_ms
        self.timeout_s = int(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
        self.version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self._finished = threading.Lock()  # whoever takes it first reports the result

    def run(self, invocation: Invocation) -> None:
        request_id = invocation.request_id
        RequestIdFilter.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = invocation.trace_id
        self._finished = threading.Lock()
        started = time.monotonic()
        self.capture.write(f"START RequestId: {request_id} Version: {self.version}\n")
        timer = threading.Timer(self.timeout_s, self._time_out, args=(invocation, started))
        timer.daemon = True
        timer.start()
        kind, body, exited = self._call(invocation, started + self.timeout_s)
        timer.cancel()
        if not self._finished.acquire(blocking=False):
            return  # the timer reported a timeout meanwhile; it ends the process
        self._report(invocation, started, kind, body, ending=exited)
        if exited:
            invocation.wait_answered(ANSWER_WAIT_S)
            os._exit(1)

    def _call(self, invocation: Invocation, deadline: float) -> tuple[str, bytes, bool]:
        """Run the handler: ('response' or 'error', body, whether the function called exit)."""
        request_id = invocation.request_id
        try:
            event = json.loads(invocation.payload or b"{}")
            result = self.handler(event, Context(invocation, deadline))
        except SystemExit as exc:
            message = f"RequestId: {request_id} Error: Runtime exited with error: exit status "
            body = error_body("Runtime.ExitError", f"{message}{exc.code}", [], request_id)
            return "error", json.dumps(body).encode(), True
        except Exception as exc:
            body = exception_body(exc, request_id)
            trace = "".join(traceback.format_exception(exc))
            self.capture.write(f"[ERROR] {body['errorType']}: {body['errorMessage']}\n{trace}")
            return "error", json.dumps(body).encode(), False
        try:
            return "response", json.dumps(result).encode(), False
        except (TypeError, ValueError) as exc:
            body = error_body("Runtime.MarshalError", f"Unable to marshal response: {exc}", [])
            return "error", json.dumps(body).encode(), False

    def _report(
        self,
        invocation: Invocation,
        started: float,
        kind: str,
        body: bytes,
        *,
        ending: bool,
        tail: str = "",
    ) -> None:
        request_id = invocation.request_id
        duration_ms = (time.monotonic() - started) * 1000
        self.capture.write(f"END RequestId: {request_id}\n")
        self.capture.write(report_line(request_id, duration_ms, self.init_ms) + tail)
        self.init_ms = None
        invocation.finish(kind, self.capture.take(), body, ending=ending)

    def _time_out(self, invocation: Invocation, started: float) -> None:
        if not self._finished.acquire(blocking=False):
            return
        message = (
            f"{utc_timestamp()} {invocation.request_id} Task timed out after "
            f"{self.timeout_s:.2f} seconds"
        )
        body = json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}).encode()
        self._report(invocation, started, "error", body, ending=True, tail=message + "\n")
        invocation.wait_answered(ANSWER_WAIT_S)
        os._exit(0)


def setup_logging(capture: LogCapture) -> None:
    """Route print() and the logging module into `capture`, formatted as the AWS runtime does."""
    sys.stdout = sys.stderr = capture
    handler = logging.StreamHandler(capture)
    formatter = logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.terminator = ""
    handler.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(handler)


def serve(port: int) -> queue.Queue:
    invocations: queue.Queue = queue.Queue()
    InvokeServer.invocations = invocations
    server = http.server.HTTPServer(("127.0.0.1", port), InvokeServer)
    threading.Thread(target=server.serve_forever, name="invoke-server", daemon=True).start()
    return invocations


def main() -> None:
    # Running this file put its own folder first on sys.path: the function must not see it.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    sandbox = enter_sandbox()
    # After the sandbox: changing user clears the parent-death signal.
    die_with_parent(int(os.environ["P300_PARENT_PID"]), sandbox.get("cgroup_procs"))
    invocations = serve(int(os.environ["P300_INVOKE_PORT"]))
    capture = LogCapture(sys.__stdout__)
    setup_logging(capture)
    started = time.monotonic()
    handler, init_error = load_handler(os.environ.get("_HANDLER", ""))
    if init_error is not None:
        post_status("error", init_error)
        sys.exit(1)
    runtime = Runtime(capture, handler, (time.monotonic() - started) * 1000)
    post_status("ready")
    while True:
        runtime.run(invocations.get())


if __name__ == "__main__":
    main()
