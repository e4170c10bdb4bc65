import json

from p300_localstack.distributed_map_results import result_files

ARN = "arn:aws:states:us-east-1:000000000000:mapRun:backfill/ForEachBatch:abc"


def test_each_childs_output_is_a_succeeded_record_and_a_null_slot_a_failed_one():
    files = result_files([[{"outcome": "processed"}], None, []], map_run_arn=ARN)
    assert [r["Name"] for r in files["SUCCEEDED"]] == ["0", "2"]
    assert json.loads(files["SUCCEEDED"][0]["Output"]) == [{"outcome": "processed"}]
    assert files["SUCCEEDED"][0]["Status"] == "SUCCEEDED"
    assert files["FAILED"] == [{"ExecutionArn": f"{ARN}:1", "Name": "1", "Status": "FAILED",
                                "InputDetails": {"Included": False}}]  # fmt: skip


def test_no_results_give_no_records():
    assert result_files([], map_run_arn=ARN) == {"SUCCEEDED": [], "FAILED": []}
