"""The layers as a contract: each imports only those below it (import-linter, configured in
pyproject.toml), and the Lambda handlers, which are not a package, import no ops or infra code."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HANDLERS = sorted((REPO / "functions").glob("*/handler.py"))
#: What the handlers (and everything shipped in Lambda layers) may never import.
NOT_IN_LAMBDAS = ("p300_ops", "infra")


def imported_packages(source: str) -> set[str]:
    """Top-level package of every absolute import in ``source``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return found


def test_the_package_layers_are_kept():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda path: path.parent.name)
def test_handlers_import_no_ops_or_infra_code(handler):
    forbidden = imported_packages(handler.read_text()) & set(NOT_IN_LAMBDAS)
    assert not forbidden, f"{handler.relative_to(REPO)} imports {sorted(forbidden)}"


def test_every_handler_is_checked():
    assert len(HANDLERS) >= 8


@pytest.mark.parametrize(
    ("source", "packages"),
    [
        ("import os, p300_ops.cli\nfrom infra.app import x", {"os", "p300_ops", "infra"}),
        ("from . import sibling\nfrom p300_aws.names import A", {"p300_aws"}),
        ("def f():\n    import p300_ops.services", {"p300_ops"}),  # imports inside functions too
    ],
)
def test_imported_packages(source, packages):
    assert imported_packages(source) == packages


def test_the_console_and_the_services_are_kept_apart():
    import tomllib

    contracts = {
        c["id"]: c for c in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"][
            "importlinter"]["contracts"]
    }  # fmt: skip
    assert "p300_ops.console" in contracts["services-return-data"]["forbidden_modules"]
    console = contracts["console-over-services"]
    assert console["source_modules"] == ["p300_ops.console"]
    assert {"p300_ops.commands", "p300_ops.cli", "click"} <= set(console["forbidden_modules"])
