"""`p300 up / down / status / logs`: the whole local cloud as one unit.

`up` starts LocalStack, optionally PostgreSQL, then MLflow, deploys the CDK app and restores the
cloud state of an earlier run (`restore`); it records what it started in `<state home>/cloud.json`.
`down` stops exactly those processes, by PID.
"""

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from p300_ops.localcloud import cdk, localstack, mlflow_server, postgres, restore
from p300_ops.localcloud.processes import LocalCloudError, ServerProcess, stop_server, tail
from p300_ops.services import layer_builds

BACKENDS = ("sqlite", "postgres")


class AlreadyRunning(LocalCloudError):
    """`up` found the local cloud already running: nothing was started."""


class NothingRunning(LocalCloudError):
    """`down` found nothing of ours running."""


@dataclass(frozen=True)
class CloudConfig:
    home: Path
    localstack_port: int = localstack.DEFAULT_PORT
    mlflow_port: int = mlflow_server.DEFAULT_PORT
    postgres_port: int = postgres.DEFAULT_PORT
    backend: str = "sqlite"
    #: Extra environment of the LocalStack process (e.g. a bench's ``P300_TRACEMALLOC``).
    localstack_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")


@dataclass
class CloudState:
    """What `up` started, saved as JSON in the state home."""

    home: str
    backend: str
    servers: dict[str, ServerProcess]
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def localstack_port(self) -> int:
        return self.servers["localstack"].port

    @property
    def endpoint_url(self) -> str:
        return localstack.endpoint_url(self.localstack_port)

    @property
    def tracking_uri(self) -> str:
        return mlflow_server.tracking_uri(self.servers["mlflow"].port)

    def save(self) -> None:
        doc = {**asdict(self), "servers": {k: v.to_dict() for k, v in self.servers.items()}}
        _state_file(Path(self.home)).write_text(json.dumps(doc, indent=2))

    @classmethod
    def load(cls, home: Path) -> "CloudState | None":
        path = _state_file(home)
        if not path.exists():
            return None
        doc = json.loads(path.read_text())
        doc["servers"] = {k: ServerProcess(**v) for k, v in doc["servers"].items()}
        return cls(**doc)


def _state_file(home: Path) -> Path:
    return home / "cloud.json"


def up(config: CloudConfig, *, progress=print) -> CloudState:
    """Start everything, deploy the app and restore the cloud state; on any failure stop what
    this call started. Raises AlreadyRunning when the cloud of this state home runs, or another
    `up` is starting it."""
    home = config.home
    home.mkdir(parents=True, exist_ok=True)
    with _only_up(home):
        return _up(config, progress)


@contextlib.contextmanager
def _only_up(home: Path) -> Iterator[None]:
    """Hold ``<home>/up.lock`` while `up` runs: a second `up` on the same state home refuses at
    once instead of starting a second LocalStack on the same state."""
    path = home / "up.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise AlreadyRunning(
                f"another `p300 up` (PID {holder}) is starting the local cloud in {home}; "
                f"nothing was started"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _up(config: CloudConfig, progress) -> CloudState:
    home = config.home
    existing = CloudState.load(home)
    if existing:
        alive = {name for name, s in existing.servers.items() if s.is_running()}
        if alive == set(existing.servers):
            raise AlreadyRunning(
                f"the local cloud in {home} is already running "
                f"(LocalStack {existing.endpoint_url}, MLflow {existing.tracking_uri}); "
                f"nothing was started"
            )
        # A crash (e.g. LocalStack killed) leaves survivors: stop them, then start afresh.
        if alive:
            gone = sorted(set(existing.servers) - alive)
            progress(f"found a partly running local cloud ({', '.join(gone)} gone): restarting")
            for name in alive:
                stop_server(existing.servers[name])
    state = CloudState(home=str(home), backend=config.backend, servers={})
    try:
        _step(
            state,
            "localstack",
            progress,
            lambda: localstack.start_localstack(
                home, port=config.localstack_port, env_overrides=config.localstack_env
            ),
        )
        if config.backend == "postgres":
            _step(
                state,
                "postgres",
                progress,
                lambda: postgres.start_postgres(home, port=config.postgres_port),
            )
            store = postgres.store_uri(config.postgres_port)
        else:
            store = mlflow_server.sqlite_store_uri(home)
        # MLflow starts while the app deploys: the deploy only needs its URI.
        state.servers["mlflow"] = mlflow_server.start_mlflow(
            home,
            port=config.mlflow_port,
            backend_store_uri=store,
            localstack_port=config.localstack_port,
        )
        state.save()
        built = _step(state, "layers", progress, layer_builds.build_all)
        context = {
            "mlflowTrackingUri": state.tracking_uri,
            "layerDirs": layer_builds.layer_dirs_context(built),
        }
        _step(
            state,
            "deploy",
            progress,
            lambda: cdk.deploy(home, localstack_port=config.localstack_port, context=context),
        )
        _step(
            state,
            "mlflow",
            progress,
            lambda: mlflow_server.wait_for_mlflow(state.servers["mlflow"]),
        )
        _step(
            state,
            "restore",
            progress,
            lambda: restore.restore(config.localstack_port, state.tracking_uri, progress=progress),
        )
    except BaseException:
        for server in reversed(list(state.servers.values())):
            stop_server(server, timeout=10)
        _state_file(home).unlink(missing_ok=True)
        raise
    state.save()
    return state


def _step(state: CloudState, name: str, progress, action):
    progress(
        {
            "layers": "building Lambda layers (cached while their recipes are unchanged) ...",
            "deploy": "deploying the CDK app ...",
            "mlflow": "waiting for MLflow ...",
            "restore": "restoring the cloud state of the last run ...",
        }.get(name, f"starting {name} ...")
    )
    started = time.monotonic()
    result = action()
    state.timings_s[name] = round(time.monotonic() - started, 2)
    if isinstance(result, ServerProcess):
        state.servers[name] = result
    progress(f"  {name} ready in {state.timings_s[name]:.1f} s")
    return result


def down(home: Path) -> list[str]:
    """Stop what `up` started (MLflow, PostgreSQL, then LocalStack); returns the names stopped."""
    state = CloudState.load(home)
    if state is None:
        raise NothingRunning(f"nothing is running: no local cloud state in {home}")
    stopped = [
        name
        for name in ("mlflow", "postgres", "localstack")
        if name in state.servers and stop_server(state.servers[name])
    ]
    _state_file(home).unlink(missing_ok=True)
    if not stopped:
        raise NothingRunning(f"nothing was running any more in {home} (state file removed)")
    return stopped


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    port: int | None
    healthy: bool
    detail: str


def status(home: Path) -> list[ComponentStatus]:
    """Each component with its PID, port and health; the deployed stack last."""
    state = CloudState.load(home)
    if state is None:
        return []
    rows = []
    for name, server in state.servers.items():
        running = server.is_running()
        healthy, detail = _health(name, server) if running else (False, "not running")
        rows.append(ComponentStatus(name, server.pid, server.port, running and healthy, detail))
    if state.servers["localstack"].is_running():
        rows.append(_stack_status(state))
    return rows


def _health(name: str, server: ServerProcess) -> tuple[bool, str]:
    if name == "localstack":
        doc = localstack.health(server.port)
        if not doc:
            return False, "no answer on /_localstack/health"
        running = sorted(k for k, v in doc["services"].items() if v == "running")
        return True, f"v{doc.get('version', '?')}; running: {', '.join(running) or '-'}"
    if name == "mlflow":
        ok = mlflow_server.is_healthy(server.port)
        return ok, f"{mlflow_server.tracking_uri(server.port)}" if ok else "no answer on /health"
    ok = postgres._accepts_connections(server.port)
    return ok, "accepting connections" if ok else "not accepting connections"


def _stack_status(state: CloudState) -> ComponentStatus:
    cfn = localstack.aws_client("cloudformation", state.localstack_port)
    try:
        stack = cfn.describe_stacks(StackName=cdk.STACK_NAME)["Stacks"][0]
        ok = stack["StackStatus"].endswith("_COMPLETE") and "ROLLBACK" not in stack["StackStatus"]
        return ComponentStatus(f"stack {cdk.STACK_NAME}", None, None, ok, stack["StackStatus"])
    except Exception as exc:  # any failure means "not deployed", shown as such
        return ComponentStatus(f"stack {cdk.STACK_NAME}", None, None, False, f"not deployed: {exc}")


LOG_COMPONENTS = ("localstack", "mlflow", "postgres", "lambda")


def logs(home: Path, component: str, *, lines: int = 50) -> str:
    """The last `lines` lines of a component's log; `lambda` reads CloudWatch Logs."""
    if component not in LOG_COMPONENTS:
        raise ValueError(f"component must be one of {LOG_COMPONENTS}, got {component!r}")
    if component != "lambda":
        return tail(home / "logs" / f"{component}.log", lines=lines)
    state = CloudState.load(home)
    if state is None or not state.servers["localstack"].is_running():
        raise NothingRunning("Lambda logs live in LocalStack's CloudWatch Logs: run `p300 up`")
    return _lambda_logs(state, lines)


def _lambda_logs(state: CloudState, lines: int) -> str:
    cw = localstack.aws_client("logs", state.localstack_port)
    events = []
    for group in cw.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]:
        name = group["logGroupName"]
        for event in cw.filter_log_events(logGroupName=name, limit=lines).get("events", []):
            events.append((event["timestamp"], name, event["message"].rstrip()))
    events.sort()
    return "\n".join(
        f"{time.strftime('%H:%M:%S', time.localtime(ts / 1000))} {group} {msg}"
        for ts, group, msg in events[-lines:]
    )
