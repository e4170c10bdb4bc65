"""The console binds 127.0.0.1 only; a port in use is one clear error."""

import socket

import pytest

from p300_ops.console.server import HOST, PortInUse, bind, url


def test_binds_loopback_and_reports_its_url():
    sock = bind(0)
    try:
        host, port = sock.getsockname()
        assert host == HOST == "127.0.0.1"
        assert url(sock) == f"http://127.0.0.1:{port}/"
    finally:
        sock.close()


def test_a_port_in_use_names_the_port_and_what_to_do():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(PortInUse, match=rf"port {port} on 127.0.0.1 is already in use.*--port"):
            bind(port)
    finally:
        taken.close()


@pytest.mark.parametrize("port", [-1, 70000, "80"])
def test_a_bad_port_is_refused(port):
    with pytest.raises(ValueError, match=rf"port must be an integer in 0-65535, got {port!r}"):
        bind(port)
