"""Environment that keeps the tools we run from phoning home: the one definition.

These machines reach 127.0.0.1 and the package registries, nothing else, and no traffic may
leave loopback. By default MLflow (its client at import, its server for the UI) and the CDK CLI
send usage telemetry to hosts on the internet. Every process we start gets these variables: the
Lambda functions (the CDK app sets them), the MLflow server, the CDK CLI and, through `p300_ops`
itself, our own processes.
"""

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",  # the cross-tool convention (MLflow honours it too)
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
}
