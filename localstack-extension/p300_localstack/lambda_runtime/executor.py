"""LocalStack Lambda runtime executor whose execution environments are host subprocesses.

Selected with ``LAMBDA_RUNTIME_EXECUTOR=local``. Each environment is one process of the function's
interpreter running ``bootstrap.py`` in a session of its own: it reports init through LocalStack's
executor endpoint and answers each invocation on the executor's own kept-alive HTTP connection
(127.0.0.1), logs and result in one reply. LocalStack's environment manager gives each concurrent
invocation its own environment, because an environment is reserved for one invocation at a time.

Isolation (sandbox.py says what this host allows): code and layers are unzipped here, refusing
unsafe archives (archives.py); each environment has its own user, memory cgroup and /tmp; on a
timeout, a stop or the environment's death, every process of its session and cgroup is killed.
"""

import atexit
import base64
import contextlib
import functools
import hashlib
import http.client
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
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

from p300_localstack.lambda_runtime import sandbox
from p300_localstack.lambda_runtime.archives import extract_zip, remove_tree
from p300_localstack.lambda_runtime.runtimes import (
    exit_description,
    function_environment,
    python_interpreter,
)

LOG = logging.getLogger(__name__)
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
#: The bootstrap (and the sandbox entry it loads) of this executor's version, read once: several
#: LocalStack instances (and git worktrees) may share one installation that a newer or older
#: install replaces while they run.
BOOTSTRAP_FILES = {path.name: path.read_bytes() for path in (BOOTSTRAP, sandbox.ENTRY)}
HOST = "127.0.0.1"
#: Extra wait beyond the function timeout before the executor itself kills a stuck environment.
TIMEOUT_GRACE_S = 5.0
_extract_lock = threading.Lock()


def workdir() -> Path:
    return Path(os.environ.get("P300_LAMBDA_WORKDIR") or Path(tempfile.gettempdir(), "p300-lambda"))


def bootstrap_script() -> Path:
    """This executor's own bootstrap as a file under `workdir`, in a folder named by content."""
    digest = hashlib.sha256(b"".join(BOOTSTRAP_FILES.values())).hexdigest()[:12]
    folder = workdir() / f"bootstrap-{digest}"
    for name, content in BOOTSTRAP_FILES.items():
        if not (folder / name).is_file():
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f"{name}.{os.getpid()}.{threading.get_ident()}.tmp"
            partial.write_bytes(content)
            partial.replace(folder / name)
    return folder / BOOTSTRAP.name


def code_folder(code, *, what: str) -> Path:
    """The unzipped, read-only folder of a function's or layer's code, extracted by us once per
    archive content (LocalStack's own extraction is never used: it follows symbolic links)."""
    if code.is_hot_reloading():
        return code.get_unzipped_code_location()
    folder = workdir() / "code" / base64.b64decode(code.code_sha256).hex()
    if folder.exists():  # it appears whole, by rename
        return folder
    with _extract_lock:
        if not folder.exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder.parent, suffix=".zip") as archive:
                code._download_archive_to_file(archive)
                extract_zip(Path(archive.name), folder, what=what)
    return folder


def code_folders(function_version: FunctionVersion) -> tuple[Path, list[Path]]:
    """The folders of a version's code and of its layers, in order."""
    config_ = function_version.config
    code_dir = code_folder(config_.code, what=f"the code of {function_version.qualified_arn}")
    layers = [code_folder(layer.code, what=layer.layer_version_arn) for layer in config_.layers]
    return code_dir, layers


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
    sandbox.remove_instance_group()


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
        self.memory: sandbox.MemoryGroup | None = None
        self._user: tuple[int, int] | None = None  # (id, lock fd)
        self._spawns = 0
        self._oom_kills_seen = 0
        self._invoke_started = 0.0

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
        if self.memory is not None:
            self.memory.remove()
        if self._user is not None:
            sandbox.IdPool.release(self._user[1])
            self._user = None
        shutil.rmtree(self.scratch_dir, ignore_errors=True)

    def _spawn(self) -> None:
        config_ = self.function_version.config
        code_dir, layer_dirs = code_folders(self.function_version)
        port = get_free_tcp_port()
        tmp = self.scratch_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        spec = self._sandbox_spec(code_dir, layer_dirs)
        env = function_environment(
            self.env_vars,
            code_dir=code_dir,
            layer_dirs=layer_dirs,
            runtime=config_.runtime,
            scratch_dir=tmp,
            invoke_port=port,
            parent_pid=os.getpid(),
            host_env=os.environ,
            user=f"sbx_user{spec['uid']}" if spec.get("uid") else os.environ.get("USER", ""),
        )
        env["P300_SANDBOX"] = json.dumps(spec)
        interpreter = python_interpreter(config_.runtime, config_.package_type, environ=os.environ)
        with open(self.scratch_dir / "runtime.log", "ab") as log:
            self.process = _spawner.submit(
                subprocess.Popen,
                [interpreter, "-I", "-S", str(bootstrap_script())],
                env=env,
                cwd=code_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own, killed as one
            ).result()
        self.endpoint.container_port = port
        threading.Thread(
            target=self._watch,
            args=(self.process,),
            name=f"p300-lambda-watch-{self.id}",
            daemon=True,
        ).start()

    def _sandbox_spec(self, code_dir: Path, layer_dirs: list[Path]) -> dict:
        """What bootstrap.py's sandbox entry applies (see sandbox_entry.py)."""
        config_ = self.function_version.config
        support = sandbox.support()
        spec = {"memory_mb": config_.memory_size, "tmp_dir": str(self.scratch_dir / "tmp")}
        if support.cgroups is not None:
            if self.memory is None:
                self.memory = sandbox.MemoryGroup.create(
                    support.cgroups, support.flavour, self.id, config_.memory_size
                )
            spec["cgroup_procs"] = str(self.memory.procs_file)
            self._oom_kills_seen = self.memory.oom_kills()
        if not support.users:
            return spec
        if self._user is None:
            self._user = sandbox.IdPool().acquire()
        image = None
        if support.tmp_images:  # a fresh /tmp for each process, as after a re-init on AWS
            for old in self.scratch_dir.glob("tmp-*.img"):
                old.unlink()
            self._spawns += 1
            image = self.scratch_dir / f"tmp-{self._spawns}.img"
            sandbox.tmp_image(workdir() / "tmp-templates", config_.ephemeral_storage.size, image)
        code_root = workdir() / "code"
        own_code = [d.name for d in (code_dir, *layer_dirs) if d.parent == code_root]
        spec.update(
            uid=self._user[0],
            gid=self._user[0],
            tmp_image=str(image) if image else None,
            paths=[str(code_dir), *map(str, layer_dirs), str(self.scratch_dir)],
            private={str(code_root): own_code, str(workdir() / "envs"): [self.id]},
        )
        return spec

    def _watch(self, process: subprocess.Popen) -> None:
        """When the process exits during init, fail the start (an invocation in progress learns
        it from its broken connection); either way, end what it left behind."""
        code = process.wait()
        if process is not self.process:
            return  # an earlier process of this environment, replaced by a restart
        self._kill()
        error_type = "Runtime.OutOfMemory" if self._out_of_memory() else "Runtime.ExitError"
        message = f"Runtime exited with error: {exit_description(code)}"
        body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
        startup = self.endpoint.startup_future
        if startup is not None and not startup.done():
            startup.set_exception(StatusErrorException("Environment startup failed", body))

    def _kill(self) -> None:
        """SIGKILL the environment's session (its process group) and everything in its memory
        cgroup (which holds children that left the session too)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.memory is not None:
            self.memory.kill_all()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def _out_of_memory(self) -> bool:
        return self.memory is not None and self.memory.oom_kills() > self._oom_kills_seen

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
        self._invoke_started = time.monotonic()
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
        """The exit status of a process that is ending (killed if it lingers), once everything
        it started is gone too."""
        try:
            code = self.process.wait(timeout=TIMEOUT_GRACE_S)
        except subprocess.TimeoutExpired:
            code = None
        self._kill()
        return self.process.returncode if code is None else code

    def _exit_result(self, request_id: str) -> InvocationResult:
        """The environment's process ended during the invocation (``os._exit``, a crash, or the
        kernel's OOM killer at the memory limit: then AWS's Runtime.OutOfMemory)."""
        code = self._await_exit()
        if self._out_of_memory():
            return self._out_of_memory_result(request_id)
        message = f"Runtime exited with error: {exit_description(code)}"
        body = json.dumps({"errorMessage": message, "errorType": "Runtime.ExitError"}).encode()
        return InvocationResult(request_id, body, is_error=True, logs="")

    def _out_of_memory_result(self, request_id: str) -> InvocationResult:
        config_ = self.function_version.config
        message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
        body = {"errorMessage": message, "errorType": "Runtime.OutOfMemory"}
        duration_ms = (time.monotonic() - self._invoke_started) * 1000
        used_mb = min(self.memory.peak_mb(), config_.memory_size)
        version = self.function_version.id.qualifier
        logs = (
            f"START RequestId: {request_id} Version: {version}\n"
            f"{message}\nRuntime.OutOfMemory\nEND RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {config_.memory_size} MB\t"
            f"Max Memory Used: {used_mb} MB\tStatus: error\tError Type: Runtime.OutOfMemory\n"
        )
        return InvocationResult(request_id, json.dumps(body).encode(), is_error=True, logs=logs)

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
        """Refuse what cannot run here, then unzip code and layers (refusing unsafe archives)."""
        config_ = function_version.config
        python_interpreter(config_.runtime, config_.package_type, environ=os.environ)
        code_folders(function_version)

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to do: code folders are shared by content and removed at the next start."""

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
        _start_once()
        return LocalRuntimeExecutor


@functools.cache
def _start_once() -> None:
    """On the first load in this process: remove an earlier run's code and environment folders
    from a private work folder (LocalStack keeps no functions across restarts) and say what
    isolation this host allows."""
    if os.environ.get("P300_LAMBDA_WORKDIR"):  # the shared default may serve other LocalStacks
        for leftover in ("code", "envs"):
            remove_tree(workdir() / leftover)
    LOG.info(sandbox.support().describe())
