"""`p300 console`: a port in use is one clear CLI error."""

import socket

from click.testing import CliRunner

from p300_ops.cli import main


def test_a_port_in_use_is_one_clear_error(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        result = CliRunner().invoke(main, ["console", "--port", str(port), "--home", str(tmp_path)])
    finally:
        taken.close()
    assert result.exit_code == 1
    assert f"Error: port {port} on 127.0.0.1 is already in use" in result.output
    assert "Traceback" not in result.output


def test_the_help_has_an_example():
    result = CliRunner().invoke(main, ["console", "--help"])
    assert result.exit_code == 0
    assert "p300 console --port 8300" in result.output and "127.0.0.1" in result.output
