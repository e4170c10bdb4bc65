"""Lambda layers built reproducibly from the recipes in ``layers/``, cached by content hash.

Which layers exist and which function gets which is ``layers/manifest.toml``, which the CDK app
reads too; this is the one place layers are built, and the app gets their directories only
through its context value ``layerDirs`` (`layer_dirs_context`).

A third-party layer's recipe is ``layers/<name>.txt``: pinned requirements (matching
requirements/lock.txt) installed as manylinux x86_64 wheels for Python 3.13 without dependency
resolution, so the layer holds exactly what the recipe lists. The ``core`` layer is the project's
own packages (the manifest's ``core``) copied from ``src/``. Each layer lands in
``.p300-build/layers/<name>-<hash>/python/``; the hash covers the recipe (or the core sources) and
the trimming rules, so an unchanged layer is never rebuilt.

Bytecode is compiled with ``unchecked-hash`` invalidation: Lambda's ``/opt`` is read-only, so
Python could not cache it there, and zip archives lose the source timestamps that the default
invalidation compares.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from p300_aws.names import (
    API_TOKENS_BUCKET,
    PREDICT_FUNCTION,
    PREPROCESS_FUNCTION,
    TRAIN_FUNCTION,
)
from p300_ops import paths

RECIPES_DIR = paths.REPO / "layers"
MANIFEST_FILE = RECIPES_DIR / "manifest.toml"
BUILD_ROOT = paths.REPO / ".p300-build" / "layers"
#: Where `image_layout` lays out an image function's files as its container image holds them.
IMAGE_LAYOUT_ROOT = paths.REPO / ".p300-build" / "image-layouts"
FUNCTIONS_DIR = paths.REPO / "functions"
SOURCE_DIR = paths.REPO / "src"

_MANIFEST = tomllib.loads(MANIFEST_FILE.read_text())
CORE_LAYER = "core"
CORE_PACKAGES = tuple(_MANIFEST["layers"]["core"])
THIRD_PARTY_LAYERS = tuple(_MANIFEST["layers"]["third_party"])
LAYER_NAMES = (CORE_LAYER, *THIRD_PARTY_LAYERS)
#: Layers of each function, in PYTHONPATH order; its code directory under ``functions/``.
FUNCTION_LAYERS = {name: tuple(f["layers"]) for name, f in _MANIFEST["functions"].items()}
FUNCTION_DIRS = {name: f["dir"] for name, f in _MANIFEST["functions"].items()}
#: How each function is packaged on AWS: ``zip`` (code + layers) or ``image`` (a container image
#: built from the same recipes, ``layers/train.Dockerfile``: for what a zip cannot hold).
AWS_PACKAGES = {name: f.get("aws_package", "zip") for name, f in _MANIFEST["functions"].items()}

#: AWS caps a function's code plus all its layers at 250 MB unzipped (250 MiB = 262,144,000 bytes).
SIZE_LIMIT_BYTES = 262_144_000
#: A container image function may be up to 10 GB (10 GiB, as AWS counts), uncompressed.
IMAGE_SIZE_LIMIT_BYTES = 10 * 1024**3

WHEEL_ARGS = (
    "--python-platform",
    "x86_64-manylinux_2_28",
    "--python-version",
    "3.13",
    "--only-binary",
    ":all:",
    "--no-deps",
)
#: Directory names removed anywhere in a layer: test suites are never imported at run time.
TRIMMED_DIR_NAMES = ("tests",)
#: Powertools' utilities that neither its event handler nor the utilities it imports (data classes,
#: JMESPath, typing, validation, serialization) ever import: 2.5 of its 5.4 MiB.
UNUSED_POWERTOOLS_UTILITIES = (
    "auth_alpha", "batch", "circuit_breaker", "data_masking", "feature_flags", "idempotency",
    "kafka", "parameters", "parser", "streaming",
)  # fmt: skip
#: Paths under a layer's ``python/`` removed when present (glob patterns). pyarrow's Flight and
#: Gandiva libraries are loaded only by ``pyarrow.flight``/``gandiva``, never by
#: ``pyarrow.parquet`` (Substrait stays: ``pyarrow.lib`` links it); its C++ headers and Cython
#: sources only serve extension builds.
TRIMMED_GLOBS = (
    "pyarrow/libarrow_flight.so*",
    "pyarrow/libarrow_python_flight.so*",
    "pyarrow/_flight.*.so",
    "pyarrow/flight.py",
    "pyarrow/libgandiva.so*",
    "pyarrow/gandiva.*",
    "pyarrow/_pyarrow_cpp_tests.*",
    "pyarrow/include",
    "pyarrow/src",
    "pyarrow/*.pyx",
    "pyarrow/*.pxd",
    "pyarrow/*.pxi",
    "pyarrow/includes",
    *(f"aws_lambda_powertools/utilities/{utility}" for utility in UNUSED_POWERTOOLS_UTILITIES),
)
#: A build of an older recipe is deleted once unused for this long (s).
STALE_AFTER_S = 6 * 3600
#: Changing what a build does must change every layer's hash.
BUILD_RULES = repr((WHEEL_ARGS, TRIMMED_DIR_NAMES, TRIMMED_GLOBS, "unchecked-hash"))


class LayerError(RuntimeError):
    """A layer cannot be built, is not built yet, or does not import."""


def recipe_path(name: str) -> Path:
    """The recipe file of third-party layer ``name``."""
    _check_layer_name(name, allowed=THIRD_PARTY_LAYERS)
    return RECIPES_DIR / f"{name}.txt"


def recipe_pins(name: str) -> list[str]:
    """The pinned requirements (``package==version``) of third-party layer ``name``."""
    lines = recipe_path(name).read_text().splitlines()
    pins = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    unpinned = [pin for pin in pins if "==" not in pin]
    if unpinned:
        raise LayerError(f"layer {name!r}: every requirement must be pinned with ==, {unpinned}")
    return pins


def layer_hash(name: str) -> str:
    """Content hash (16 hex digits) of what layer ``name`` is built from."""
    _check_layer_name(name, allowed=LAYER_NAMES)
    digest = hashlib.sha256(BUILD_RULES.encode())
    if name == CORE_LAYER:
        for path in _core_sources():
            digest.update(str(path.relative_to(SOURCE_DIR)).encode() + b"\0")
            digest.update(path.read_bytes())
    else:
        digest.update("\n".join(recipe_pins(name)).encode())
    return digest.hexdigest()[:16]


def layer_dir(name: str) -> Path:
    """Where layer ``name`` is (or will be) built: the directory holding ``python/``."""
    return BUILD_ROOT / f"{name}-{layer_hash(name)}"


def built_layer_dir(name: str) -> Path:
    """The built directory of layer ``name``; `LayerError` naming the fix when it is missing."""
    directory = layer_dir(name)
    if not (directory / "python").is_dir():
        raise LayerError(
            f"layer {name!r} is not built for its current recipe ({directory} is missing): "
            "run `p300 layers build` (or `p300 up`, which builds them) before `cdk synth`"
        )
    return directory


def build_all(*, progress: Callable[[str], None] = lambda _: None) -> dict[str, Path]:
    """Build every layer whose recipe changed since its last build; returns name → directory."""
    return {name: build_layer(name, progress=progress) for name in LAYER_NAMES}


def layer_dirs_context(built: dict[str, Path]) -> str:
    """The CDK context value ``layerDirs`` naming the ``built`` directories (`build_all`): the
    only way the app learns where the layers are (``cdk synth -c layerDirs=<this>``)."""
    return json.dumps({name: str(directory) for name, directory in built.items()})


def build_layer(name: str, *, progress: Callable[[str], None] = lambda _: None) -> Path:
    """Build layer ``name`` unless its current build exists; returns its directory."""
    target = layer_dir(name)
    if (target / "python").is_dir():
        os.utime(target)  # in use: not stale
        return target
    progress(f"building layer {name} ({target.name}) ...")
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=BUILD_ROOT, prefix=f".{name}-"))
    try:
        python_dir = scratch / "python"
        if name == CORE_LAYER:
            _copy_core(python_dir)
        else:
            _install_wheels(recipe_pins(name), python_dir)
        trim(python_dir)
        _compile_bytecode(python_dir)
        scratch.rename(target)  # atomic: a half-built layer is never seen
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
        if not (target / "python").is_dir():
            raise
        # Another process (a second `up`, a parallel test worker) built the same recipe first.
        return target
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    _remove_stale_builds(name, keep=target)
    return target


def trim(python_dir: Path) -> int:
    """Delete test suites and the parts of pyarrow and Powertools our functions never load
    (`TRIMMED_GLOBS`); returns bytes freed."""
    doomed = [p for p in python_dir.rglob("*") if p.is_dir() and p.name in TRIMMED_DIR_NAMES]
    doomed += [p for pattern in TRIMMED_GLOBS for p in python_dir.glob(pattern)]
    freed = 0
    for path in doomed:
        if not path.exists():  # inside a directory removed before it
            continue
        freed += tree_bytes(path)
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return freed


def tree_bytes(path: Path) -> int:
    """Unzipped size in bytes of a file or of every file under a directory (as AWS counts it)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@dataclass(frozen=True)
class FunctionSize:
    """Unzipped bytes of one function: its code and each of its layers, and how AWS gets it
    (``aws_package``: ``zip``, limited to 250 MiB, or ``image``, to 10 GiB)."""

    function: str
    code_bytes: int
    layer_bytes: dict[str, int]
    aws_package: str = "zip"

    @property
    def total_bytes(self) -> int:
        return self.code_bytes + sum(self.layer_bytes.values())

    @property
    def limit_bytes(self) -> int:
        return IMAGE_SIZE_LIMIT_BYTES if self.aws_package == "image" else SIZE_LIMIT_BYTES

    @property
    def within_limit(self) -> bool:
        return self.total_bytes <= self.limit_bytes


def function_sizes() -> list[FunctionSize]:
    """Each function's unzipped size from the built layers (`LayerError` if one is missing)."""
    layer_bytes = {name: tree_bytes(built_layer_dir(name)) for name in LAYER_NAMES}
    return [
        FunctionSize(
            function,
            tree_bytes(function_code_dir(function)),
            {name: layer_bytes[name] for name in layers},
            AWS_PACKAGES[function],
        )
        for function, layers in FUNCTION_LAYERS.items()
    ]


def function_code_dir(function: str) -> Path:
    """The code directory ``functions/<dir>/`` of Lambda function ``function``."""
    _check_layer_name(function, allowed=tuple(FUNCTION_DIRS), what="function")
    return FUNCTIONS_DIR / FUNCTION_DIRS[function]


def function_python_path(function: str) -> str:
    """PYTHONPATH of ``function`` as the Lambda runtime sets it: code, then each layer."""
    entries = [function_code_dir(function)]
    entries += [built_layer_dir(name) / "python" for name in FUNCTION_LAYERS[function]]
    return os.pathsep.join(str(entry) for entry in entries)


def image_layout(function: str) -> Path:
    """One directory holding ``function``'s code and every file of its built layers (hard
    links), as its container image's ``/var/task`` holds them (``layers/train.Dockerfile``
    installs the same recipes there); made once per combination of layer builds.

    Raises `LayerError` when two layers hold the same file: in one directory one would hide
    the other.
    """
    layers = [built_layer_dir(name) / "python" for name in FUNCTION_LAYERS[function]]
    key = hashlib.sha256("".join(str(d) for d in layers).encode()).hexdigest()[:16]
    target = IMAGE_LAYOUT_ROOT / f"{function}-{key}"
    if target.is_dir():
        return target
    IMAGE_LAYOUT_ROOT.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=IMAGE_LAYOUT_ROOT, prefix=f".{function}-"))
    try:
        # The image compiles the code's bytecode itself; the layers' is part of each build.
        _link_tree(function_code_dir(function), scratch, skip_bytecode=True)
        for layer in layers:
            _link_tree(layer, scratch, skip_bytecode=False)
        scratch.rename(target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    cutoff = time.time() - STALE_AFTER_S
    for stale in IMAGE_LAYOUT_ROOT.glob(f"{function}-*"):
        if stale != target and stale.stat().st_mtime < cutoff:
            shutil.rmtree(stale)
    return target


def _link_tree(source: Path, target: Path, *, skip_bytecode: bool) -> None:
    for path in source.rglob("*"):
        if not path.is_file() or path.name == ".lock":  # the installer's lock, in every layer
            continue
        if skip_bytecode and "__pycache__" in path.parts:
            continue
        destination = target / path.relative_to(source)
        if destination.exists():
            raise LayerError(f"{path.relative_to(source)} is in two layers of one function")
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, destination)


def check_function_imports(
    function: str, *, python: Path = paths.LAMBDA_PYTHON, as_image: bool = False
) -> None:
    """Import ``function``'s handler (and write and read Parquet) with only its layers, or with
    ``as_image`` from its `image_layout` alone.

    Runs the Lambda runtime's interpreter (``.venv-lambda``) in a clean process; raises
    `LayerError` with the traceback when anything fails to import.
    """
    python_path = str(image_layout(function)) if as_image else function_python_path(function)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": python_path,
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # The authorizers bind their token bucket at import, as the stack configures them.
        "P300_TOKENS_BUCKET": API_TOKENS_BUCKET,
    }
    has_handler = (function_code_dir(function) / "handler.py").is_file()
    parquet_smoke = _SMOKE_SCRIPT if "data" in FUNCTION_LAYERS[function] else ""
    script = parquet_smoke + _FUNCTION_SMOKE.get(function, "")
    script += "import handler\n" if has_handler else ""
    with tempfile.TemporaryDirectory() as cwd:
        result = subprocess.run(
            [str(python), "-c", script], cwd=cwd, env=env, capture_output=True, text=True
        )
    if result.returncode != 0:
        layout = "as its image" if as_image else "with its layers"
        raise LayerError(f"{function} does not import {layout}:\n{result.stderr[-3000:]}")


# Every function with the `data` layer reads or writes Parquet through it, with pyarrow trimmed.
_SMOKE_SCRIPT = """
import io
import pandas as pd
import pyarrow.parquet as pq
buffer = io.BytesIO()
pd.DataFrame({"eeg_ch1": [1.5, 2.5], "stim": [0, 2]}).to_parquet(buffer)
assert pq.read_table(io.BytesIO(buffer.getvalue())).num_rows == 2
"""

# Preprocessing (and the prediction API's raw windows) load the array code on first use.
_PREPROCESS_SMOKE = """
import numpy as np
from p300.preprocessing import preprocess
from p300.types import RawRecording
stim = np.zeros(5120, dtype=np.int8)
stim[1000:4000:100] = 1
stim[1050:4000:300] = 2
recording = RawRecording(
    data=np.random.default_rng(0).standard_normal((2, 5120)), ch_names=("a", "b"), sfreq=512.0,
    stim=stim, subject="smoke",
)
assert preprocess(recording).features.shape[1] == 2 * 70
"""

# What a handler imports only when it runs: training saves the model in mlflow.sklearn's format.
_FUNCTION_SMOKE = {
    PREPROCESS_FUNCTION: _PREPROCESS_SMOKE,
    PREDICT_FUNCTION: _PREPROCESS_SMOKE,
    TRAIN_FUNCTION: """
import tempfile
import mlflow.sklearn
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
model = LinearDiscriminantAnalysis().fit([[0.0], [1.0], [0.1], [0.9]], [0, 1, 0, 1])
with tempfile.TemporaryDirectory() as folder:
    mlflow.sklearn.save_model(model, folder + "/model")
""",
}


def _check_layer_name(name: str, *, allowed: tuple[str, ...], what: str = "layer") -> None:
    if name not in allowed:
        raise ValueError(f"{what} must be one of {allowed}, got {name!r}")


def _core_sources() -> Iterator[Path]:
    for package in CORE_PACKAGES:
        yield from sorted(
            p
            for p in (SOURCE_DIR / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        )


def _copy_core(python_dir: Path) -> None:
    for source in _core_sources():
        target = python_dir / source.relative_to(SOURCE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _install_wheels(pins: list[str], python_dir: Path) -> None:
    command = [str(paths.PROJECT_BIN / "uv"), "pip", "install", "--quiet"]
    command += ["--target", str(python_dir), *WHEEL_ARGS, *pins]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise LayerError(f"installing {pins} failed:\n{result.stderr[-3000:]}")


def _compile_bytecode(python_dir: Path) -> None:
    command = [str(paths.LAMBDA_PYTHON), "-m", "compileall", "-q", "-j", "0"]
    command += ["--invalidation-mode", "unchecked-hash", str(python_dir)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise LayerError(f"compiling {python_dir} failed:\n{output[-3000:]}")


def _remove_stale_builds(name: str, *, keep: Path) -> None:
    # Only builds unused for a while: another `p300 up` (another checkout state, a parallel
    # test session) may be deploying an older build right now.
    cutoff = time.time() - STALE_AFTER_S
    for stale in BUILD_ROOT.glob(f"{name}-*"):
        if stale != keep and stale.is_dir() and stale.stat().st_mtime < cutoff:
            shutil.rmtree(stale)
