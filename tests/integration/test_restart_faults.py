"""The cloud state under faults, on a real LocalStack: a record torn by a kill is dropped and
reported; damage before it stops the start with a report, and salvage keeps what is intact."""

from pathlib import Path

import pytest

from p300_ops.localcloud.localstack import cloud_state_dir
from p300_ops.localcloud.processes import LocalCloudError, kill_server, stop_server
from p300_ops.localcloud.restore import request_restore
from tests.integration.localstack.conftest import client, launch

pytestmark = pytest.mark.cloud

#: Where a journal's first frame starts (after the file header), and its body (after the frame's).
FIRST_FRAME_AT, FRAME_HEADER_BYTES = 24, 16


def create_apis(home: Path, names: list[str]) -> dict[str, str]:
    """Start LocalStack, create a REST API of each name, kill it; name → id."""
    server = launch(home)
    apigateway = client(server, "apigateway")
    ids = {name: apigateway.create_rest_api(name=name)["id"] for name in names}
    kill_server(server)
    return ids


def journal(home: Path) -> Path:
    return max(cloud_state_dir(home).glob("journal-*.log"), key=lambda p: int(p.stem[8:]))


def test_a_torn_last_record_is_dropped_and_up_is_told(tmp_path):
    ids = create_apis(tmp_path, ["kept-api", "torn-api"])
    path = journal(tmp_path)
    path.write_bytes(path.read_bytes()[:-5])  # the kill came in the middle of the last write
    server = launch(tmp_path)
    try:
        apigateway = client(server, "apigateway")
        assert apigateway.create_rest_api(name="kept-api")["id"] == ids["kept-api"]
        assert apigateway.create_rest_api(name="torn-api")["id"] != ids["torn-api"]
        (note,) = request_restore(server.port)["recovery_notes"]
        assert f"{path.name}: a torn last record" in note and "ignored" in note
    finally:
        stop_server(server)


def test_damage_before_the_last_record_stops_the_start_and_salvage_keeps_the_rest(tmp_path):
    ids = create_apis(tmp_path, ["damaged-api", "intact-api"])
    path = journal(tmp_path)
    data = bytearray(path.read_bytes())
    data[FIRST_FRAME_AT + FRAME_HEADER_BYTES + 8] ^= 0x01  # inside the first record
    path.write_bytes(bytes(data))

    with pytest.raises(LocalCloudError) as refused:
        stop_server(launch(tmp_path))
    report = str(refused.value)
    assert report.startswith("LocalStack did not start: cloud state refused to start: damaged")
    assert f"{path.name} is corrupt at byte {FIRST_FRAME_AT}" in report
    assert "P300_CLOUD_STATE_RECOVERY=salvage" in report
    assert path.read_bytes() == bytes(data)  # nothing changed

    server = launch(tmp_path, {"P300_CLOUD_STATE_RECOVERY": "salvage"})
    try:
        apigateway = client(server, "apigateway")
        assert apigateway.create_rest_api(name="intact-api")["id"] == ids["intact-api"]
        notes = request_restore(server.port)["recovery_notes"]
        assert any("kept its 1 intact records" in note for note in notes), notes
        assert list((cloud_state_dir(tmp_path) / "quarantine").iterdir())
    finally:
        stop_server(server)
