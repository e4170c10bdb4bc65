"""The toolchain bootstrap (scripts/bootstrap.sh) when Python 3.13 cannot be found."""

import subprocess

from p300_ops import paths


def test_missing_python_313_says_what_to_do(tmp_path):
    result = subprocess.run(
        ["bash", "-c", f'P300_REPO="{paths.REPO}"; source scripts/bootstrap.sh; p300_bootstrap'],
        cwd=paths.REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "Python 3.13 was not found" in result.stderr
    assert "P300_PYTHON" in result.stderr
    assert "pyenv install 3.13" in result.stderr


def test_python_313_is_found_through_p300_python(tmp_path):
    python = paths.REPO / ".venv" / "bin" / "python"
    result = subprocess.run(
        ["bash", "-c", f'source "{paths.REPO}/scripts/bootstrap.sh"; p300_find_python313'],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "P300_PYTHON": str(python)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == str(python)


def test_a_missing_chromium_without_root_says_how_to_install_it(tmp_path):
    script = (
        f'source "{paths.REPO}/scripts/bootstrap.sh"; id() {{ echo 1000; }}; '
        f'P300_CHROMIUM="{tmp_path}/no-chromium" p300_chromium'
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0
    assert "need Debian's chromium" in result.stderr
    assert "apt-get install -y chromium" in result.stderr


def test_an_installed_chromium_is_left_alone(tmp_path):
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    script = f'source "{paths.REPO}/scripts/bootstrap.sh"; P300_CHROMIUM="{browser}" p300_chromium'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")
