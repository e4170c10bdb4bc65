"""The records of a Distributed Map's result files, as AWS writes them (pure: no LocalStack)."""

import json


def result_files(results: list, *, map_run_arn: str) -> dict[str, list[dict]]:
    """``SUCCEEDED``/``FAILED`` → the child-execution records of the map's ``results`` (one
    per child, in order; None for a failed child), as AWS's result files hold them."""
    files: dict[str, list[dict]] = {"SUCCEEDED": [], "FAILED": []}
    for index, output in enumerate(results):
        record = {"ExecutionArn": f"{map_run_arn}:{index}", "Name": str(index),
                  "InputDetails": {"Included": False}}  # fmt: skip
        if output is None:
            files["FAILED"].append({**record, "Status": "FAILED"})
        else:
            output_record = {"Output": json.dumps(output), "OutputDetails": {"Included": True}}
            files["SUCCEEDED"].append({**record, "Status": "SUCCEEDED", **output_record})
    return files
