from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from p300_ops.cli import main


def test_bad_subject_label_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["upload", str(_parquet(tmp_path / "r.parquet")),
                                       "--subject", "0/1"])  # fmt: skip
    assert result.exit_code == 2
    assert "--subject must be 1–64 letters, digits or '-'" in result.output


def test_nothing_uploadable_fails_before_needing_the_cloud(tmp_path):
    result = CliRunner().invoke(
        main, ["upload", str(tmp_path / "missing"), "--home", str(tmp_path / "home"), "--json"]
    )
    assert result.exit_code == 1
    assert '"reason": "no such file or folder"' in result.output
    assert "1 path(s) not uploaded" in result.output


def test_upload_needs_a_running_cloud(tmp_path):
    result = CliRunner().invoke(
        main, ["upload", str(_parquet(tmp_path / "subject_01" / "r.parquet")),
               "--home", str(tmp_path / "home")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "the local cloud is not running: run `p300 up`" in result.output


def _parquet(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"eeg_ch1": [0.0, 1.0], "stim": pa.array([0, 2], pa.int8())}), path)
    return path
