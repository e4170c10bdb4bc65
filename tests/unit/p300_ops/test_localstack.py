"""What `up` says when LocalStack does not start."""

from p300_ops.localcloud.localstack import _start_failure, localstack_env

REPORT = """durable S3 refused to start: damaged files in /home/s3:
  - snapshot-7.snap is corrupt at byte 24: the frame's CRC does not match its content
Nothing was changed, moved or deleted."""


def test_durable_s3_s_report_replaces_the_log_tail(tmp_path):
    log = tmp_path / "localstack.log"
    log.write_text(f"Traceback (most recent call last):\n  File ...\nRecoveryRefused: {REPORT}\n")
    message = _start_failure(log, 4566, 90)
    assert message == f"LocalStack did not start: {REPORT}\n(whole log: {log})"


def test_any_other_failure_shows_the_last_lines_of_the_log(tmp_path):
    log = tmp_path / "localstack.log"
    log.write_text("starting\nValueError: GATEWAY_LISTEN notaport\n")
    message = _start_failure(log, 4566, 90)
    assert message.startswith("LocalStack did not become healthy on port 4566 within 90 s.")
    assert message.endswith("starting\nValueError: GATEWAY_LISTEN notaport")


def test_the_recovery_setting_reaches_localstack(tmp_path, monkeypatch):
    monkeypatch.setenv("P300_S3_RECOVERY", "salvage")
    assert localstack_env(tmp_path, 4566)["P300_S3_RECOVERY"] == "salvage"
