"""A console server and a real headless Chromium for the browser tests.

The console runs as its own process (`p300 console`) on a free loopback port and is stopped by
its handle; Chromium is Debian's (/usr/bin/chromium, installed by `./p300 test`), driven by
Playwright's Python package without any browser download. Each test saves a screenshot of the
page it ends on under its tmp dir, copied to ``.p300-test-artifacts/console/``.
"""

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from p300_ops import paths
from p300_ops.localcloud.processes import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = paths.REPO / ".p300-test-artifacts" / "console"


class ConsoleServer:
    """`p300 console` on a free port of 127.0.0.1, for the state home ``home``."""

    def __init__(self, home: str | Path, *, port: int | None = None):
        self.home = str(home)
        self.port = port or free_port()
        command = [sys.executable, "-c", "from p300_ops.cli import main; main()", "console",
                   "--port", str(self.port), "--home", str(home)]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"p300 console exited: {self.process.stderr.read()}")
            try:
                urllib.request.urlopen(f"{self.url}/static/console.css", timeout=2).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"p300 console did not answer on {self.url} in {timeout_s} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def console(cloud):
    server = ConsoleServer(cloud.home)
    yield server
    server.stop()


# Module scope: a live sync Playwright keeps its event loop running in the main thread, which
# would break any later test that runs a loop of its own (Mangum's handler does).
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (./p300 test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request, tmp_path):
    """A fresh page; its screenshot is saved when the test ends (passed or not)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    outside = []
    local = ("http://127.0.0.1", "data:", "about:")
    opened.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
    yield opened
    shot = tmp_path / f"{request.node.name}.png"
    opened.screenshot(path=str(shot), full_page=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
    context.close()
    assert not outside, f"the page sent requests outside 127.0.0.1: {outside}"


def dead_mlflow_home(cloud, tmp_path: Path) -> Path:
    """A state home naming the running LocalStack but an MLflow port nothing listens on."""
    document = json.loads((Path(cloud.home) / "cloud.json").read_text())
    document["servers"]["mlflow"]["port"] = free_port()
    home = tmp_path / "dead-mlflow"
    home.mkdir()
    (home / "cloud.json").write_text(json.dumps(document))
    return home
