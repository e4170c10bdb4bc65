"""System A's nine-step demonstration as one function, in a private state home.

1 start the cloud; 2 generate and ingest 10 subjects in two pipeline runs of 5; 3 train version 1
on the first half of the subjects and deploy it as ``challenger``; 4 evaluate the challenger on
subjects 06 and 07; 5 promote version 1 to ``champion`` (in a fresh cloud there is no champion
yet, so this is champion's first deployment: a canary needs a serving champion to shift traffic
from; the step says so in its note); 6 evaluate the champion on 09 and 10;
7 train version 2 on the first 75 % and deploy it as ``challenger``; 8 evaluate it on 09 and 10;
9 tear the cloud down (always, also after a failure).

Training subjects are always the first ones in subject order, so the evaluation subjects are never
training subjects. Once a step fails, the steps after it (but the last) are skipped.
"""

import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from p300_aws import keys
from p300_aws.names import (
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    INGEST_STATE_MACHINE,
    LANDING_BUCKET,
    PREDICT_FUNCTION,
    TRAIN_STATE_MACHINE,
)
from p300_ops.localcloud import lifecycle
from p300_ops.localcloud.processes import free_port
from p300_ops.services import cloud, release
from p300_ops.services.pipeline_executions import deployed_state_machines
from p300_ops.services.simulation import run_simulation
from p300_ops.services.subject_status import list_subjects
from p300_ops.services.synthetic_subjects import synthetic_object
from p300_ops.services.training_runs import train_request

REPORT_NAME = "demo-report"
INGEST_BATCH = 5
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class DemoConfig:
    """What the demonstration runs with; ports 0 mean free ports chosen at start."""

    home: Path
    n_subjects: int = 10
    duration_s: float = 600.0
    seed: int = 42
    batch_size: int = 256
    use_wandb: bool = True
    localstack_port: int = 0
    mlflow_port: int = 0
    ingest_timeout_s: float = 1800.0
    train_timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        if self.n_subjects < 10:
            raise ValueError(
                f"n_subjects must be at least 10 (steps use 09, 10), got {self.n_subjects}"
            )


@dataclass
class StepResult:
    """One step's outcome: ``status`` is "ok", "failed" or "skipped"."""

    number: int
    name: str
    status: str = "skipped"
    duration_s: float | None = None
    details: dict = field(default_factory=dict)
    error: str | None = None


def subject_ids(n_subjects: int) -> list[str]:
    """``["01", "02", …]``: the synthetic subjects' ids, in order."""
    return [f"{number:02d}" for number in range(1, n_subjects + 1)]


def first_share(subjects: list[str], share: float) -> list[str]:
    """The first ``share`` of ``subjects`` (count rounded half up), at least one, not all."""
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), got {share!r}")
    count = min(max(math.floor(share * len(subjects) + 0.5), 1), len(subjects) - 1)
    return subjects[:count]


def ingest_batches(subjects: list[str], size: int = INGEST_BATCH) -> list[list[str]]:
    """Consecutive groups of ``size`` subjects: one pipeline run each."""
    return [subjects[start : start + size] for start in range(0, len(subjects), size)]


class Demo:
    """The nine steps against one private cloud; `run` returns every step's result."""

    def __init__(self, config: DemoConfig, *, progress: Callable[[str], None] = print):
        self.config = config
        self.progress = progress
        self.subjects = subject_ids(config.n_subjects)
        self.steps: list[StepResult] = []
        self.versions: dict[str, str | None] = {}

    def run(self) -> list[StepResult]:
        """Run every step; the teardown runs whatever happened before it."""
        planned = [
            ("start the local cloud", self.start),
            (f"ingest {len(self.subjects)} subjects in runs of {INGEST_BATCH}", self.ingest),
            ("train version 1 on 50 % as challenger, deploy", lambda: self.train("v1", 0.5)),
            ("evaluate challenger on 06, 07",
             lambda: self.evaluate(CHALLENGER_ALIAS, ["06", "07"])),
            ("promote version 1 to champion", self.promote),
            ("evaluate champion on 09, 10", lambda: self.evaluate(CHAMPION_ALIAS, ["09", "10"])),
            ("train version 2 on 75 % as challenger, deploy", lambda: self.train("v2", 0.75)),
            ("evaluate challenger on 09, 10",
             lambda: self.evaluate(CHALLENGER_ALIAS, ["09", "10"])),
        ]  # fmt: skip
        failed = False
        for number, (name, action) in enumerate(planned, start=1):
            step = StepResult(number, name)
            self.steps.append(step)
            if not failed:
                failed = not self._run_step(step, action)
        down = StepResult(len(planned) + 1, "tear the local cloud down")
        self.steps.append(down)
        self._run_step(down, self.stop)
        return self.steps

    def _run_step(self, step: StepResult, action: Callable[[], dict]) -> bool:
        self.progress(f"[{step.number}/9] {step.name} ...")
        started = time.monotonic()
        try:
            step.details = action() or {}
            step.status = "ok"
        except Exception as exc:  # a failed step is reported, and the teardown still runs
            step.status, step.error = "failed", f"{type(exc).__name__}: {exc}"
        step.duration_s = time.monotonic() - started
        self.progress(f"[{step.number}/9] {step.status} in {step.duration_s:.1f} s"
                      + (f": {step.error}" if step.error else ""))  # fmt: skip
        return step.status == "ok"

    # Steps -------------------------------------------------------------------------------------

    def start(self) -> dict:
        config = self.config
        cloud = lifecycle.CloudConfig(
            home=config.home,
            localstack_port=config.localstack_port or free_port(),
            mlflow_port=config.mlflow_port or free_port(),
        )
        state = lifecycle.up(cloud, progress=lambda msg: self.progress(f"      {msg}"))
        return {"endpoint": state.endpoint_url, "mlflow": state.tracking_uri,
                "timings_s": state.timings_s}  # fmt: skip

    def ingest(self) -> dict:
        runs = []
        for batch in ingest_batches(self.subjects):
            started = time.monotonic()
            since = datetime.now(UTC)
            self.progress(f"      uploading subjects {batch[0]}–{batch[-1]}")
            for subject in batch:
                key, body = synthetic_object(
                    int(subject),
                    seed=self.config.seed,
                    duration_s=self.config.duration_s,
                    form="system-a",
                )
                self._s3().upload_fileobj(io.BytesIO(body), LANDING_BUCKET, key)
            executions = self._wait_for_processing(batch, since)
            runs.append({"subjects": batch, "executions": executions,
                         "duration_s": time.monotonic() - started})  # fmt: skip
        return {"runs": runs}

    def train(self, label: str, share: float) -> dict:
        chosen = first_share(self.subjects, share)
        request = train_request(subjects=",".join(chosen), auto_set_challenger_alias=True,
                                seed=self.config.seed)  # fmt: skip
        output = self._run_state_machine(TRAIN_STATE_MACHINE, request, f"demo-train-{label}")
        version = str(output["model_version"])
        self.versions[label] = version
        self.progress(f"      version {version} trained on {chosen[0]}–{chosen[-1]}; deploying")
        connected = self._cloud()
        deployed = release.deploy_model(
            connected.lambda_client, connected.apigateway, connected.tracking_uri,
            CHALLENGER_ALIAS, model_version=version,
        )  # fmt: skip
        return {"model_version": version, "alias": CHALLENGER_ALIAS,
                "training_subjects": output["training_subjects"],
                "held_out_metrics": output["metrics"], "deployed": asdict(deployed)}  # fmt: skip

    def promote(self) -> dict:
        """Champion's first deployment when there is no champion yet, else a canary promotion
        of the challenger's Lambda version (rolled back if its checks fail)."""
        version = self.versions["v1"]
        connected = self._cloud()
        if not _has_alias(connected.lambda_client, CHAMPION_ALIAS):
            deployed = release.deploy_model(
                connected.lambda_client, connected.apigateway, connected.tracking_uri,
                CHAMPION_ALIAS, model_version=version,
            )  # fmt: skip
            note = (
                "first deployment, not a canary: there was no champion yet, so no champion "
                f"traffic to shift; version {version} now serves all of it"
            )
            self.progress(f"      {note}")
            return {"model_version": version, "alias": CHAMPION_ALIAS, "how": "first deployment",
                    "note": note, "deployed": asdict(deployed)}  # fmt: skip
        steps = release.promote(
            connected.lambda_client,
            connected.tracking_uri,
            base_url=connected.api_url(),
            headers=connected.api_headers("predict"),
        )
        weights = ", ".join(f"{step.weight:.0%}" for step in steps)
        return {"model_version": version, "alias": CHAMPION_ALIAS, "how": "canary",
                "note": f"canary promotion through {weights} of champion traffic, checks passed",
                "canary": [release.as_dict(step) for step in steps]}  # fmt: skip

    def evaluate(self, alias: str, subjects: list[str]) -> dict:
        report_path = self.config.home / "simulations" / f"{alias}-{'-'.join(subjects)}.json"
        document = run_simulation(
            self._cloud(), subjects, alias=alias, home=self.config.home,
            batch_size=self.config.batch_size, use_wandb=self.config.use_wandb,
            report_path=report_path,
        )  # fmt: skip
        if not document["version_matches"]:
            raise RuntimeError(
                f"the {alias} route served {document['served_models']} but MLflow's {alias} is "
                f"version {document['registry_version']}"
            )
        return {"alias": alias, "subjects": subjects, "model_version": document["registry_version"],
                "metrics": document["pooled"], "latency_ms": document["latency_ms"],
                "throughput_epochs_per_s": document["throughput_epochs_per_s"],
                "report": str(report_path), "wandb_dir": document.get("wandb_dir")}  # fmt: skip

    def stop(self) -> dict:
        try:
            return {"stopped": lifecycle.down(self.config.home)}
        except lifecycle.NothingRunning:  # `up` failed and already stopped what it started
            return {"stopped": []}

    # Helpers -----------------------------------------------------------------------------------

    def _cloud(self) -> cloud.Cloud:
        return cloud.connect(self.config.home)

    def _s3(self):
        return self._cloud().s3

    def _sfn(self):
        return self._cloud().stepfunctions

    def _wait_for_processing(self, batch: list[str], since: datetime) -> list[dict]:
        """Wait until every subject of ``batch`` is processed and the ingest executions started
        since ``since`` have all finished; raises when one did not succeed."""
        sfn = self._sfn()
        arn = deployed_state_machines(sfn)[INGEST_STATE_MACHINE]
        deadline = time.monotonic() + self.config.ingest_timeout_s
        while True:
            executions = [
                {"name": e["name"], "status": e["status"]}
                for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
                for e in page["executions"]
                if e["startDate"] >= since
            ]
            failed = [e for e in executions if e["status"] in TERMINAL[1:]]
            if failed:
                raise RuntimeError(f"ingest executions did not succeed: {failed}")
            connected = self._cloud()
            processed = {s.subject for s in list_subjects(connected.s3, study=keys.DEFAULT_STUDY)
                         if s.stage == "processed"}  # fmt: skip
            running = [e for e in executions if e["status"] not in TERMINAL]
            if set(batch) <= processed and executions and not running:
                return executions
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"subjects {sorted(set(batch) - processed)} not processed (executions "
                    f"{executions}) after {self.config.ingest_timeout_s:.0f} s"
                )
            time.sleep(2.0)

    def _run_state_machine(self, name: str, request: dict, execution: str) -> dict:
        sfn = self._sfn()
        arn = sfn.start_execution(
            stateMachineArn=deployed_state_machines(sfn)[name],
            name=f"{execution}-{datetime.now(UTC):%H%M%S}",
            input=json.dumps(request),
        )["executionArn"]
        deadline = time.monotonic() + self.config.train_timeout_s
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{execution} still RUNNING after {self.config.train_timeout_s} s"
                )
            time.sleep(1.0)
        if described["status"] != "SUCCEEDED":
            raise RuntimeError(
                f"{execution} {described['status']}: {described.get('error')}: "
                f"{described.get('cause')}"
            )
        return json.loads(described["output"])


def step_rows(steps: list[StepResult]) -> list[dict]:
    """One summary row per step: status, duration, versions, aliases, metrics and latencies."""
    rows = []
    for step in steps:
        details = step.details
        metrics = details.get("metrics") or details.get("held_out_metrics") or {}
        latency = details.get("latency_ms") or {}
        rows.append({
            "step": step.number, "name": step.name, "status": step.status,
            "duration_s": step.duration_s, "model_version": details.get("model_version"),
            "alias": details.get("alias"), "accuracy": metrics.get("accuracy"),
            "kappa": metrics.get("kappa"), "roc_auc": metrics.get("roc_auc"),
            "latency_p50_ms": latency.get("p50"), "latency_p95_ms": latency.get("p95"),
            "error": step.error, "note": details.get("note"),
        })  # fmt: skip
    return rows


def markdown_summary(rows: list[dict]) -> str:
    """The summary rows as a Markdown table."""
    columns = ("step", "name", "status", "duration_s", "model_version", "alias", "accuracy",
               "kappa", "roc_auc", "latency_p50_ms", "latency_p95_ms")  # fmt: skip
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    notes = [f"- step {r['step']}: {r['error'] or r['note']}"
             for r in rows if r["error"] or r.get("note")]  # fmt: skip
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def save_report(config: DemoConfig, steps: list[StepResult]) -> tuple[Path, Path]:
    """Write ``demo-report.json`` (every step's details) and ``demo-report.md`` into the home."""
    config.home.mkdir(parents=True, exist_ok=True)
    rows = step_rows(steps)
    document = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "succeeded": all(s.status == "ok" for s in steps),
        "summary": rows,
        "steps": [asdict(s) for s in steps],
    }
    json_path, md_path = config.home / f"{REPORT_NAME}.json", config.home / f"{REPORT_NAME}.md"
    json_path.write_text(json.dumps(document, indent=2, default=str))
    md_path.write_text("# P300 demo\n\n" + markdown_summary(rows))
    return json_path, md_path


def _has_alias(lambda_client, alias: str) -> bool:
    try:
        lambda_client.get_alias(FunctionName=PREDICT_FUNCTION, Name=alias)
    except lambda_client.exceptions.ResourceNotFoundException:
        return False
    return True


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
