"""Fixes for the Distributed Map's ResultWriter (LocalStack 2026.3.0).

Its ``Parameters`` paths (``"Bucket.$"``, ``"Prefix.$"``) are read from the map's results, not
from the state's input as on AWS (`result_writer_parameters_read_the_state_input`). And it writes
only ``manifest.json``, with empty ``ResultFiles``: the children's outputs are
dropped (``# TODO: generate result files``). AWS writes them to ``SUCCEEDED_<n>.json`` and
``FAILED_<n>.json`` (arrays of child-execution records whose ``Output`` is a JSON string) next
to the manifest, which names them. LocalStack keeps no input of a child and marks a failed
child's result slot null, so a failed record carries the child's index and no ``Input``.
"""

import json

from localstack.services.stepfunctions.asl.component.state.state_execution.state_map.result_writer.resource_eval.resource_eval_s3 import (  # noqa: E501
    ResourceEvalS3,
)
from localstack.services.stepfunctions.asl.component.state.state_execution.state_map.result_writer.result_writer_decl import (  # noqa: E501
    ResultWriter,
)
from localstack.utils.patch import Patch

from p300_localstack.distributed_map_results import result_files


def result_writer_writes_results() -> list[Patch]:
    """ResultWriter (``s3:putObject``) writes each status's results as ``<STATUS>_0.json`` and
    names them in ``manifest.json``, as AWS does."""

    def handle_put_object(env, resource_runtime_part, state_credentials) -> None:
        parameters = env.stack.pop()
        results = env.stack.pop()
        s3 = ResourceEvalS3._get_s3_client(
            resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
        )
        map_run_arn = env.map_run_record_pool_manager.get_all()[-1].map_run_arn
        prefix = parameters.get("Prefix", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        folder = f"{prefix}{map_run_arn.split(':')[-1]}/"
        bucket = parameters["Bucket"]
        manifest = {"DestinationBucket": bucket, "MapRunArn": map_run_arn,
                    "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": []}}  # fmt: skip
        for status, records in result_files(results or [], map_run_arn=map_run_arn).items():
            if not records:
                continue
            body = json.dumps(records).encode()
            key = f"{folder}{status}_0.json"
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            manifest["ResultFiles"][status].append({"Key": key, "Size": len(body)})
        key = f"{folder}manifest.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode())
        env.stack.append(
            {"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}}
        )

    # A static method: `Patch.function` would install a plain function, then bound to the
    # resource evaluator as its first argument.
    return [Patch(ResourceEvalS3, "_handle_put_object", staticmethod(handle_put_object))]


def result_writer_parameters_read_the_state_input() -> list[Patch]:
    """ResultWriter's ``Parameters`` paths read the map state's input, as on AWS; LocalStack
    evaluated them on the top of its stack: the map's results."""

    def eval_body(self, env) -> None:
        env.stack.append(env.states.get_input())
        self.parargs.eval(env=env)
        parameters = env.stack.pop()
        env.stack.pop()  # the state input
        env.stack.append(parameters)
        self.resource_eval.eval_resource(env=env)

    return [Patch.function(ResultWriter._eval_body, eval_body, pass_target=False)]
