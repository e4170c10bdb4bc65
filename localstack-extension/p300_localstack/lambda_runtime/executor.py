"""LocalStack Lambda runtime executor whose execution environments are host subprocesses.

Selected with ``LAMBDA_RUNTIME_EXECUTOR=local``. Each environment is one process of the function's
interpreter running ``bootstrap.py``: it reports init through LocalStack's executor endpoint and
answers each invocation on the executor's own kept-alive HTTP connection (127.0.0.1), logs and
result in one reply. LocalStack's environment manager gives each concurrent invocation its own
environment, because an environment is reserved for one invocation at a time.
"""

import atexit
import contextlib
import hashlib
import http.client
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from localstack import config
from localstack.runtime.shutdown import ON_AFTER_SERVICE_SHUTDOWN_HANDLERS
from localstack.services.lambda_.invocation.executor_endpoint import (
    ExecutorEndpoint,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor
from localstack.utils.net import get_free_tcp_port

from p300_localstack.lambda_runtime.runtimes import function_environment, python_interpreter

LOG = logging.getLogger(__name__)
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
#: The bootstrap of this executor's version, read once: several LocalStack instances (and git
#: worktrees) may share one installation that a newer or older install replaces while they run.
BOOTSTRAP_SOURCE = BOOTSTRAP.read_bytes()
HOST = "127.0.0.1"
#: Extra wait beyond the function timeout before the executor itself kills a stuck environment.
TIMEOUT_GRACE_S = 5.0


def workdir() -> Path:
    return Path(os.environ.get("P300_LAMBDA_WORKDIR") or Path(tempfile.gettempdir(), "p300-lambda"))


def bootstrap_script() -> Path:
    """This executor's own bootstrap as a file under `workdir`, named by its content."""
    version = hashlib.sha256(BOOTSTRAP_SOURCE).hexdigest()[:12]
    script = workdir() / f"bootstrap-{version}" / BOOTSTRAP.name
    if not script.is_file():
        script.parent.mkdir(parents=True, exist_ok=True)
        partial = script.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_bytes(BOOTSTRAP_SOURCE)
        partial.replace(script)
    return script


# PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so every environment is
# forked by this one long-lived thread rather than by short-lived request threads.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p300-lambda-spawner")
_live: set["LocalRuntimeExecutor"] = set()
_live_lock = threading.Lock()


def stop_all() -> None:
    """Stop every environment still running (LocalStack is exiting)."""
    with _live_lock:
        executors = list(_live)
    for executor in executors:
        executor.stop()


# After LocalStack stopped its services (its Lambda service does not stop environments itself);
# atexit as well, in case LocalStack exits another way. A SIGKILLed LocalStack relies on the
# environments' own parent-death signal and watchdog (bootstrap.py).
ON_AFTER_SERVICE_SHUTDOWN_HANDLERS.register(stop_all)
atexit.register(stop_all)


class LocalRuntimeExecutor(RuntimeExecutor):
    """One execution environment: a subprocess running the function's handler."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.endpoint = ExecutorEndpoint(id, container_address=HOST, container_port=None)
        self.scratch_dir = workdir() / "envs" / id
        self.process: subprocess.Popen | None = None
        self.env_vars: dict = {}
        #: Kept-alive connection to the environment's invoke server (one invocation at a time).
        self._conn: http.client.HTTPConnection | None = None

    # Lifecycle -------------------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        self.env_vars = dict(env_vars)
        with _live_lock:
            _live.add(self)
        self.endpoint.start()
        self._spawn()
        self.endpoint.wait_for_startup()

    def stop(self) -> None:
        with _live_lock:
            _live.discard(self)
        with contextlib.suppress(KeyError, AttributeError):  # never started, or already stopped
            self.endpoint.shutdown()
        self._close_connection()
        self._kill()
        shutil.rmtree(self.scratch_dir, ignore_errors=True)

    def _spawn(self) -> None:
        config_ = self.function_version.config
        code_dir = config_.code.get_unzipped_code_location()
        port = get_free_tcp_port()
        env = function_environment(
            self.env_vars,
            code_dir=code_dir,
            layer_dirs=[layer.code.get_unzipped_code_location() for layer in config_.layers],
            runtime=config_.runtime,
            scratch_dir=self.scratch_dir / "tmp",
            invoke_port=port,
            parent_pid=os.getpid(),
            host_env=os.environ,
        )
        interpreter = python_interpreter(config_.runtime, config_.package_type, environ=os.environ)
        (self.scratch_dir / "tmp").mkdir(parents=True, exist_ok=True)
        with open(self.scratch_dir / "runtime.log", "ab") as log:
            self.process = _spawner.submit(
                subprocess.Popen,
                [interpreter, str(bootstrap_script())],
                env=env,
                cwd=code_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            ).result()
        self.endpoint.container_port = port
        threading.Thread(
            target=self._watch,
            args=(self.process,),
            name=f"p300-lambda-watch-{self.id}",
            daemon=True,
        ).start()

    def _watch(self, process: subprocess.Popen) -> None:
        """When the process exits during init, fail the start (an invocation in progress learns
        it from its broken connection)."""
        code = process.wait()
        if process is not self.process:
            return  # an earlier process of this environment, replaced by a restart
        message = f"Runtime exited with error: exit status {code}"
        body = json.dumps({"errorMessage": message, "errorType": "Runtime.ExitError"}).encode()
        startup = self.endpoint.startup_future
        if startup is not None and not startup.done():
            startup.set_exception(StatusErrorException("Environment startup failed", body))

    def _kill(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _restart(self) -> None:
        """Re-initialise after the process ended (timeout, exit): AWS re-inits the next invoke."""
        self._close_connection()
        self.endpoint.startup_future = Future()
        self._spawn()
        self.endpoint.wait_for_startup()

    # Invocation ------------------------------------------------------------------------------
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        """Send the invocation to the environment and wait for its answer (bootstrap.py's
        `InvokeServer` describes the exchange); the executor enforces the timeout itself."""
        if self.process is None or self.process.poll() is not None:
            self._restart()
        request_id = payload["invoke-id"]
        timeout_s = self.function_version.config.timeout + TIMEOUT_GRACE_S
        try:
            return self._exchange(payload, timeout_s)
        except TimeoutError:
            self._close_connection()
            self._kill()
            return self._timeout_result(request_id)
        except (OSError, http.client.HTTPException):
            self._close_connection()
            return self._exit_result(request_id)

    def _exchange(self, payload: dict[str, str], timeout_s: float) -> InvocationResult:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(HOST, self.endpoint.container_port)
        self._conn.timeout = timeout_s
        if self._conn.sock is not None:  # kept alive from the previous invocation
            self._conn.sock.settimeout(timeout_s)
        headers = {
            "Content-Type": "application/json",
            "X-Invoke-Id": payload["invoke-id"],
            "X-Invoked-Function-Arn": payload.get("invoked-function-arn") or "",
            "X-Trace-Id": payload.get("trace-id") or "",
        }
        self._conn.request("POST", "/invoke", (payload.get("payload") or "").encode(), headers)
        response = self._conn.getresponse()
        answer = response.read()
        logs_bytes = int(response.headers["X-Logs-Bytes"])
        if response.will_close:  # the process ends after this answer: let the next invoke re-init
            self._close_connection()
            self._await_exit()
        return InvocationResult(
            payload["invoke-id"],
            answer[logs_bytes:],
            is_error=response.headers["X-Result-Kind"] == "error",
            logs=answer[:logs_bytes].decode(errors="replace"),
        )

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _await_exit(self) -> int:
        """The exit status of a process that is ending (killed if it lingers)."""
        try:
            return self.process.wait(timeout=TIMEOUT_GRACE_S)
        except subprocess.TimeoutExpired:
            self._kill()
            return self.process.returncode

    def _exit_result(self, request_id: str) -> InvocationResult:
        """The environment's process ended during the invocation (e.g. ``os._exit``)."""
        code = self._await_exit()
        message = f"Runtime exited with error: exit status {code}"
        body = json.dumps({"errorMessage": message, "errorType": "Runtime.ExitError"}).encode()
        return InvocationResult(request_id, body, is_error=True, logs="")

    def _timeout_result(self, request_id: str) -> InvocationResult:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        seconds = self.function_version.config.timeout
        message = f"{stamp} {request_id} Task timed out after {seconds:.2f} seconds"
        body = json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}).encode()
        return InvocationResult(request_id, body, is_error=True, logs=message + "\n")

    # Addresses -------------------------------------------------------------------------------
    def get_address(self) -> str:
        return HOST

    def get_endpoint_from_executor(self) -> str:
        return HOST

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{HOST}:{port}{self.endpoint.get_endpoint_prefix()}"

    def get_logs(self) -> str:
        try:
            return (self.scratch_dir / "runtime.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # Versions --------------------------------------------------------------------------------
    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        """Refuse what cannot run here, then unzip code and layers from LocalStack's storage."""
        config_ = function_version.config
        python_interpreter(config_.runtime, config_.package_type, environ=os.environ)
        config_.code.prepare_for_execution()
        for layer in config_.layers:
            layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to do: the unzipped code belongs to LocalStack, which removes it."""

    @classmethod
    def validate_environment(cls) -> bool:
        if not BOOTSTRAP.is_file():
            LOG.warning("p300 Lambda bootstrap missing at %s", BOOTSTRAP)
            return False
        return sys.platform.startswith("linux")


class LocalRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """plux plugin `local`: ``LAMBDA_RUNTIME_EXECUTOR=local`` selects the subprocess executor."""

    name = "local"

    def load(self, *args, **kwargs) -> type[RuntimeExecutor]:
        return LocalRuntimeExecutor
