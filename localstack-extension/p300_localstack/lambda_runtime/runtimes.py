"""Which functions the local executor can run, with which interpreter, in which environment.

Pure functions of their arguments (plus PATH look-ups), so they are easy to read and to test.
"""

import functools
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Interpreter for the python3.13 runtime (LocalStack's launcher points it at .venv-lambda).
LAMBDA_PYTHON_VARIABLE = "P300_LAMBDA_PYTHON"
PYTHON_RUNTIME = re.compile(r"python3\.(\d+)")


class UnsupportedFunction(ValueError):
    """The function cannot run on this executor; the message says why and what would work."""


def python_interpreter(
    runtime: str | None, package_type: str, *, environ: Mapping[str, str]
) -> str:
    """The interpreter that runs functions of `runtime`.

    Only zip-packaged Python functions run here: python3.13 uses ``$P300_LAMBDA_PYTHON``, another
    python3.N the ``python3.N`` found on PATH (and only if it runs and is that version).

    Parameters
    ----------
    runtime : str or None
        The function's Lambda runtime, e.g. 'python3.13'.
    package_type : str
        'Zip' or 'Image'.
    environ : mapping
        Environment to read ``P300_LAMBDA_PYTHON`` and ``PATH`` from.

    Returns
    -------
    str
        Path of the interpreter.

    Raises
    ------
    UnsupportedFunction
        When the function cannot run here; the message says why.
    """
    if package_type != "Zip":
        raise UnsupportedFunction(
            f"the p300 local Lambda executor runs only Zip packages, got PackageType "
            f"{package_type!r}; package the function as a zip with a python3.x runtime"
        )
    match = PYTHON_RUNTIME.fullmatch(runtime or "")
    if match is None:
        raise UnsupportedFunction(
            f"the p300 local Lambda executor runs only Python runtimes (python3.x), got runtime "
            f"{runtime!r}"
        )
    if runtime == "python3.13" and environ.get(LAMBDA_PYTHON_VARIABLE):
        interpreter = environ[LAMBDA_PYTHON_VARIABLE]
        if Path(interpreter).is_file():
            return interpreter
        raise UnsupportedFunction(
            f"{LAMBDA_PYTHON_VARIABLE}={interpreter!r} is not a file; run `./p300 --help` to "
            f"create the Lambda environment"
        )
    interpreter = shutil.which(runtime, path=environ.get("PATH"))
    if interpreter is None:
        raise UnsupportedFunction(
            f"no interpreter for runtime {runtime!r}: {runtime} is not on PATH"
            + (f" and {LAMBDA_PYTHON_VARIABLE} is not set" if runtime == "python3.13" else "")
        )
    found = interpreter_version(interpreter)
    if found != runtime:  # e.g. a pyenv shim of a version that is not installed
        raise UnsupportedFunction(
            f"no working interpreter for runtime {runtime!r}: "
            f"{interpreter} runs {found or 'nothing'}"
        )
    return interpreter


@functools.cache
def interpreter_version(interpreter: str) -> str:
    """'python3.N' as reported by running `interpreter`, or '' when it does not run."""
    try:
        result = subprocess.run(
            [interpreter, "-c", "import sys; print('python%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except OSError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def python_path(code_dir: Path, layer_dirs: Sequence[Path], runtime: str) -> str:
    """PYTHONPATH as in AWS: the code, then each layer's ``python/`` and its site-packages.

    Parameters
    ----------
    code_dir : Path
        The unzipped function code.
    layer_dirs : sequence of Path
        The unzipped layers, in the function's layer order.
    runtime : str
        'python3.N', naming the ``python/lib/python3.N/site-packages`` folder of layers.
    """
    entries = [code_dir]
    for layer in layer_dirs:
        entries += [layer / "python", layer / "python" / "lib" / runtime / "site-packages"]
    return os.pathsep.join(str(entry) for entry in entries)


def function_environment(
    lambda_env: Mapping[str, object],
    *,
    code_dir: Path,
    layer_dirs: Sequence[Path],
    runtime: str,
    scratch_dir: Path,
    invoke_port: int,
    parent_pid: int,
    host_env: Mapping[str, str],
    user: str,
) -> dict[str, str]:
    """The environment of a function's process.

    Parameters
    ----------
    lambda_env : mapping
        What LocalStack prepares for the environment; its values may be ints (stringified here).
    code_dir, layer_dirs, runtime
        As for `python_path`; ``LAMBDA_TASK_ROOT`` becomes `code_dir`.
    scratch_dir : Path
        The environment's private writable folder (``HOME``, ``TMPDIR``; AWS's /tmp).
    invoke_port : int
        TCP port on 127.0.0.1 where the bootstrap accepts LocalStack's ``POST /invoke``.
    parent_pid : int
        LocalStack's PID: the bootstrap exits when that process is gone.
    host_env : mapping
        LocalStack's environment; only PATH and LANG are taken from it, so nothing else of
        LocalStack's own process leaks into functions.
    user : str
        The name the function's user goes by (``USER``, ``LOGNAME``: environment users have no
        entry in /etc/passwd, so ``getpass.getuser()`` reads these).
    """
    env = {key: str(value) for key, value in lambda_env.items()}
    env.update(
        {
            "PATH": host_env.get("PATH", "/usr/bin:/bin"),
            "LANG": host_env.get("LANG", "C.UTF-8"),
            "HOME": str(scratch_dir),
            "USER": user,
            "LOGNAME": user,
            "TMPDIR": str(scratch_dir),
            "LAMBDA_TASK_ROOT": str(code_dir),
            # Read by bootstrap.py once the sandbox is set up (the interpreter starts with -I).
            "P300_PYTHONPATH": python_path(code_dir, layer_dirs, runtime),
            "P300_INVOKE_PORT": str(invoke_port),
            "P300_PARENT_PID": str(parent_pid),
        }
    )
    return env


def exit_description(code: int) -> str:
    """How AWS's runtime names the end of a process: 'exit status 3', 'signal: killed'.

    Parameters
    ----------
    code : int
        ``Popen.returncode``: the exit status, or minus the number of the signal that ended it.
    """
    if code < 0:
        return f"signal: {signal.strsignal(-code).lower()}"
    return f"exit status {code}"
