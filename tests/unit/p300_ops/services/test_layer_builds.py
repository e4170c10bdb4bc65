"""Layer recipes, content hashes, trimming, the build cache and `p300 layers sizes`."""

import json
import os
import re
import time
from pathlib import Path

import aws_lambda_powertools
import pytest
from click.testing import CliRunner

from p300_ops import paths
from p300_ops.cli import main
from p300_ops.services import layer_builds


def lock_pins() -> set[str]:
    lines = (paths.REPO / "requirements" / "lock.txt").read_text().splitlines()
    return {line.strip() for line in lines if re.match(r"^[A-Za-z0-9]", line)}


@pytest.mark.parametrize("name", layer_builds.THIRD_PARTY_LAYERS)
def test_recipe_pins_match_the_lock(name):
    pins = layer_builds.recipe_pins(name)
    assert pins, f"recipe {name} is empty"
    assert set(pins) <= lock_pins(), f"not in requirements/lock.txt: {set(pins) - lock_pins()}"


def test_no_package_is_shipped_twice_to_one_function():
    for function, names in layer_builds.FUNCTION_LAYERS.items():
        packages = [
            pin.split("==")[0]
            for name in names
            if name != "core"
            for pin in layer_builds.recipe_pins(name)
        ]
        assert len(packages) == len(set(packages)), function


@pytest.mark.parametrize("function", sorted(layer_builds.FUNCTION_LAYERS))
def test_each_function_has_a_handler_and_at_most_five_known_layers(function):
    names = layer_builds.FUNCTION_LAYERS[function]
    assert len(names) <= 5
    assert set(names) <= set(layer_builds.LAYER_NAMES)
    assert names[0] == layer_builds.CORE_LAYER
    assert (layer_builds.function_code_dir(function) / "handler.py").is_file()


@pytest.fixture
def recipes(tmp_path, monkeypatch):
    monkeypatch.setattr(layer_builds, "RECIPES_DIR", tmp_path)
    (tmp_path / "data.txt").write_text("# arrays\nnumpy==2.5.5\n\npandas==3.1.1\n")
    return tmp_path


def test_recipe_pins_skip_comments_and_blank_lines(recipes):
    assert layer_builds.recipe_pins("data") == ["numpy==2.5.5", "pandas==3.1.1"]


def test_an_unpinned_requirement_is_rejected(recipes):
    (recipes / "data.txt").write_text("numpy\n")
    with pytest.raises(layer_builds.LayerError, match=r"must be pinned with ==, \['numpy'\]"):
        layer_builds.recipe_pins("data")


@pytest.mark.parametrize("name", ["numeric", "", "Core"])
def test_unknown_layer_names_are_rejected(name):
    with pytest.raises(ValueError, match=rf"layer must be one of .*got {name!r}"):
        layer_builds.layer_hash(name)


def test_the_hash_follows_the_recipe_not_its_comments(recipes):
    before = layer_builds.layer_hash("data")
    (recipes / "data.txt").write_text("# other words\nnumpy==2.5.5\npandas==3.1.1\n")
    assert layer_builds.layer_hash("data") == before
    (recipes / "data.txt").write_text("numpy==2.5.4\npandas==3.1.1\n")
    assert layer_builds.layer_hash("data") != before


def test_the_core_hash_follows_the_sources(tmp_path, monkeypatch):
    monkeypatch.setattr(layer_builds, "SOURCE_DIR", tmp_path)
    for package in layer_builds.CORE_PACKAGES:
        (tmp_path / package / "__pycache__").mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
    before = layer_builds.layer_hash("core")
    (tmp_path / "p300" / "__pycache__" / "x.cpython-313.pyc").write_bytes(b"\0")
    assert layer_builds.layer_hash("core") == before
    (tmp_path / "p300_aws" / "__init__.py").write_text("VALUE = 1\n")
    assert layer_builds.layer_hash("core") != before


def test_trim_removes_test_suites_pyarrow_flight_and_unused_powertools_utilities_only(tmp_path):
    files = {
        "aws_lambda_powertools/utilities/idempotency/base.py": 17,
        "aws_lambda_powertools/utilities/data_classes/common.py": 8,
        "pyarrow/libarrow.so.2500": 7,
        "pyarrow/libarrow_flight.so.2500": 11,
        "pyarrow/_flight.cpython-313-x86_64-linux-gnu.so": 3,
        "pyarrow/include/arrow/api.h": 5,
        "pyarrow/lib.pyx": 2,
        "pyarrow/parquet/core.py": 4,
        "scipy/signal/tests/test_filter.py": 13,
        "scipy/signal/_filter.py": 6,
        "numpy/testing/__init__.py": 1,
    }
    for relative, size in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x" * size)
    assert layer_builds.trim(tmp_path) == 17 + 11 + 3 + 5 + 2 + 13
    kept = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert kept == {
        "aws_lambda_powertools/utilities/data_classes/common.py",
        "pyarrow/libarrow.so.2500",
        "pyarrow/parquet/core.py",
        "scipy/signal/_filter.py",
        "numpy/testing/__init__.py",
    }


def test_no_kept_powertools_module_imports_a_trimmed_utility():
    # Guards a Powertools upgrade: the upload API would fail at its first request otherwise.
    package = Path(aws_lambda_powertools.__file__).parent
    trimmed = "|".join(layer_builds.UNUSED_POWERTOOLS_UTILITIES)
    reference = re.compile(rf"(aws_lambda_powertools\.|\.\.?)utilities\.({trimmed})\b")
    utilities = package / "utilities"
    kept = [
        path
        for path in package.rglob("*.py")
        if not any(path.is_relative_to(utilities / name) for name in trimmed.split("|"))
    ]
    assert len(kept) > 100
    importers = [str(p.relative_to(package)) for p in kept if reference.search(p.read_text())]
    assert importers == []


@pytest.fixture
def build_root(tmp_path, monkeypatch):
    monkeypatch.setattr(layer_builds, "BUILD_ROOT", tmp_path / "build")
    return tmp_path / "build"


def test_a_missing_build_names_the_command_to_run(build_root):
    with pytest.raises(
        layer_builds.LayerError, match=r"layer 'scipy' is not built.*p300 layers build"
    ):
        layer_builds.built_layer_dir("scipy")


def test_an_unchanged_layer_is_not_rebuilt(build_root, monkeypatch):
    (layer_builds.layer_dir("scipy") / "python").mkdir(parents=True)

    def no_install(*args, **kwargs):
        raise AssertionError("the cached layer was rebuilt")

    monkeypatch.setattr(layer_builds, "_install_wheels", no_install)
    assert layer_builds.build_layer("scipy") == layer_builds.layer_dir("scipy")


def test_a_layer_another_process_built_meanwhile_is_used(build_root, monkeypatch):
    def another_process_wins(_pins, python_dir):
        (python_dir / "mine.py").parent.mkdir(parents=True)
        (python_dir / "mine.py").write_text("")
        (layer_builds.layer_dir("scipy") / "python" / "theirs.py").parent.mkdir(parents=True)
        (layer_builds.layer_dir("scipy") / "python" / "theirs.py").write_text("")

    monkeypatch.setattr(layer_builds, "_install_wheels", another_process_wins)
    built = layer_builds.build_layer("scipy")
    assert [p.name for p in (built / "python").iterdir()] == ["theirs.py"]
    assert not list(build_root.glob(".scipy-*")), "the scratch directory was left behind"


def test_the_core_layer_ships_the_packages_with_unchecked_hash_bytecode(build_root):
    built = layer_builds.build_layer("core")
    assert built == layer_builds.layer_dir("core")
    python_dir = built / "python"
    assert (python_dir / "p300" / "raw_io.py").is_file()
    assert (python_dir / "p300_aws" / "names.py").is_file()
    (pyc,) = (python_dir / "p300_aws" / "__pycache__").glob("names.cpython-313.pyc")
    # PEP 552 flags: bit 0 hash-based, bit 1 check the source; unchecked-hash is 0b01.
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01
    assert not list(build_root.glob(".core-*")), "the scratch directory was left behind"


def test_a_new_build_removes_builds_unused_for_long_and_keeps_recent_ones(build_root):
    stale, recent = build_root / "core-0000000000000000", build_root / "core-1111111111111111"
    for old_build in (stale, recent):
        (old_build / "python").mkdir(parents=True)
    long_ago = time.time() - layer_builds.STALE_AFTER_S - 60
    os.utime(stale, (long_ago, long_ago))
    layer_builds.build_layer("core")
    assert not stale.exists()
    assert recent.exists(), "a build another deploy may be using was deleted"


def test_the_built_directory_is_named_by_the_content_hash(build_root):
    # The CDK app reuses that suffix as the layer's asset hash (infra/constructs/pipeline.py).
    built = layer_builds.build_layer("core")
    assert built.name.rpartition("-")[2] == layer_builds.layer_hash("core")


def fake_builds(sizes_mib: dict[str, float]) -> None:
    """A built directory per layer: the sizes given (in MiB), 0.1 MiB for the others."""
    for name in layer_builds.LAYER_NAMES:
        size = sizes_mib.get(name, 0.1)
        python_dir = layer_builds.layer_dir(name) / "python"
        python_dir.mkdir(parents=True)
        (python_dir / "blob.bin").write_bytes(b"\0" * int(size * 1_048_576))


def test_sizes_add_code_and_layers_and_flag_what_exceeds_250_mib(build_root):
    fake_builds({"core": 0.5, "data": 1, "scipy": 1, "ml": 1, "mlflow": 1})
    sizes = {row.function: row for row in layer_builds.function_sizes()}
    train = sizes["p300-train"]
    assert set(train.layer_bytes) == set(layer_builds.FUNCTION_LAYERS["p300-train"])
    assert train.total_bytes == train.code_bytes + int(4.5 * 1_048_576)
    assert train.within_limit


def test_the_sizes_command_reports_each_function_and_fails_over_the_limit(build_root):
    fake_builds({"core": 0.1, "data": 1, "serving": 249, "scipy": 1, "ml": 1, "mlflow": 300})
    result = CliRunner().invoke(main, ["layers", "sizes"])
    assert result.exit_code == 1
    assert re.search(r"ok\s+p300-ingest .* of 250 as a zip", result.output)
    assert re.search(r"OVER\s+p300-predict .* of 250 as a zip .* serving 249\.0", result.output)
    # Training ships as a container image on AWS: 10 GiB, not 250 MiB.
    assert re.search(r"ok\s+p300-train\s+303\.\d MiB of 10240 as a container image", result.output)


def test_an_image_function_is_held_to_10_gib_and_a_zip_to_250_mib():
    over_zip = layer_builds.FunctionSize("f", 0, {"core": layer_builds.SIZE_LIMIT_BYTES + 1})
    assert not over_zip.within_limit
    as_image = layer_builds.FunctionSize(
        "f", 0, {"core": layer_builds.SIZE_LIMIT_BYTES + 1}, aws_package="image"
    )
    assert as_image.within_limit and as_image.limit_bytes == 10 * 1024**3


def test_the_manifest_names_every_function_and_the_app_reads_it_alike():
    from infra.constructs import functions as app_manifest
    from p300_aws import names

    deployed = {value for name, value in vars(names).items() if name.endswith("_FUNCTION")}
    assert set(layer_builds.FUNCTION_LAYERS) == deployed
    assert app_manifest.FUNCTION_LAYERS == layer_builds.FUNCTION_LAYERS
    assert app_manifest.LAYER_NAMES == layer_builds.LAYER_NAMES
    assert {f: d.name for f, d in app_manifest.FUNCTION_CODE.items()} == layer_builds.FUNCTION_DIRS


def test_the_layer_dirs_context_names_each_built_directory(tmp_path):
    built = {name: tmp_path / f"{name}-0123" for name in layer_builds.LAYER_NAMES}
    assert json.loads(layer_builds.layer_dirs_context(built)) == {
        name: str(directory) for name, directory in built.items()
    }


@pytest.fixture
def layout_root(build_root, tmp_path, monkeypatch):
    monkeypatch.setattr(layer_builds, "IMAGE_LAYOUT_ROOT", tmp_path / "layouts")
    for name in layer_builds.FUNCTION_LAYERS["p300-train"]:
        python_dir = layer_builds.layer_dir(name) / "python"
        (python_dir / name / "__pycache__").mkdir(parents=True)
        (python_dir / name / "__init__.py").write_text(f"LAYER = {name!r}\n")
        (python_dir / name / "__pycache__" / "__init__.cpython-313.pyc").write_bytes(b"pyc")
        (python_dir / ".lock").write_text("")  # the installer's, in every layer
    return tmp_path / "layouts"


def test_the_image_layout_holds_the_code_and_every_layer_in_one_directory(layout_root):
    layout = layer_builds.image_layout("p300-train")
    assert layout.parent == layout_root
    assert (layout / "handler.py").read_bytes() == (
        layer_builds.function_code_dir("p300-train") / "handler.py"
    ).read_bytes()
    for name in layer_builds.FUNCTION_LAYERS["p300-train"]:
        assert (layout / name / "__init__.py").read_text() == f"LAYER = {name!r}\n"
        assert (layout / name / "__pycache__" / "__init__.cpython-313.pyc").is_file()
    assert not (layout / ".lock").exists()
    assert layer_builds.image_layout("p300-train") == layout  # made once


def test_a_file_in_two_layers_of_an_image_is_refused_naming_it(layout_root):
    for name in ("data", "scipy"):
        (layer_builds.layer_dir(name) / "python" / "shared.py").write_text(name)
    with pytest.raises(
        layer_builds.LayerError, match=r"shared\.py is in two layers of one function"
    ):
        layer_builds.image_layout("p300-train")
    assert not list(layout_root.iterdir()), "a half-made layout was left behind"
