import socket
import sys
import time

import pytest

from p300_ops.localcloud.processes import (
    LocalCloudError,
    ServerProcess,
    check_port_free,
    free_port,
    start_server,
    stop_server,
    tail,
)


def test_busy_port_is_a_clear_error():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with pytest.raises(LocalCloudError, match=rf"port {port} on 127.0.0.1 is already in use"):
            check_port_free(port, what="LocalStack")


def test_free_port_is_free_and_checked_free():
    port = free_port()
    check_port_free(port, what="anything")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))  # raises OSError if the port were taken
        assert listener.getsockname()[1] == port


def test_stop_server_stops_the_server_and_its_children(tmp_path):
    script = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    server = start_server(
        "sleeper", [sys.executable, "-c", script], port=0, log_path=tmp_path / "s.log", env={}
    )
    proc = server.process()
    for _ in range(100):
        if proc.children():
            break
        time.sleep(0.05)
    family = [proc, *proc.children(recursive=True)]
    assert len(family) == 2
    assert stop_server(server, timeout=5) is True
    assert not any(p.is_running() for p in family)
    assert stop_server(server) is False  # nothing left to stop


def test_a_recycled_pid_is_not_our_server():
    stranger = ServerProcess("x", pid=1, create_time=0.0, port=0, log_path="")
    assert stranger.process() is None
    assert stop_server(stranger) is False


def test_tail_returns_the_last_lines(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, lines=2) == "line 98\nline 99"
    assert tail(tmp_path / "missing.log") == ""
