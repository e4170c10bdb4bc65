import subprocess
import sys

from tests.suite_profile import tree_cpu_s


def test_the_cpu_of_a_finished_child_process_is_counted():
    before = tree_cpu_s()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass",
        ],
        check=True,
    )
    assert tree_cpu_s() - before >= 0.4
