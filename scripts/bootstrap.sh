# Toolchain bootstrap shared by `./p300 ...` and `./p300 test`: sourced, not executed.
# Creates three Python 3.13 virtual environments from pinned lock files and installs the pinned
# CDK CLI from package-lock.json. Each step is skipped while its inputs are unchanged.
#   .venv            the project: science core, CLI, CDK app, MLflow server, tests
#   .venv-localstack LocalStack 2026.3.0 (its pins conflict with the project's)
#   .venv-lambda     what the AWS python3.13 Lambda runtime ships (boto3), used by our executor

UV_VERSION=0.13.9

p300_die() { printf 'p300: %s\n' "$*" >&2; exit 1; }

p300_find_python313() {
    local candidate root
    for candidate in "${P300_PYTHON:-}" "$(command -v python3.13 2>/dev/null)"; do
        [ -n "$candidate" ] && p300_is_python313 "$candidate" && { echo "$candidate"; return 0; }
    done
    root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    for candidate in "$root"/versions/3.13*/bin/python3.13; do
        [ -x "$candidate" ] && p300_is_python313 "$candidate" && { echo "$candidate"; return 0; }
    done
    return 1
}

p300_is_python313() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else 1)' 2>/dev/null
}

# p300_venv DIR LOCKFILE [EXTRA UV-PIP-INSTALL ARGS...]
p300_venv() {
    local dir=$1 lock=$2; shift 2
    local stamp="$dir/.p300-stamp" want
    want=$(cat "$lock" <(printf '%s\n' "$@" "$UV_VERSION") | sha256sum | cut -d' ' -f1)
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
    echo "p300: preparing $dir (pinned in $lock) ..." >&2
    [ -x "$dir/bin/python" ] || "$P300_PY313" -m venv "$dir" || p300_die "could not create $dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION" \
        || p300_die "could not install uv into $dir"
    "$dir/bin/uv" pip install -q --python "$dir/bin/python" -r "$lock" "$@" \
        || p300_die "could not install $lock into $dir"
    echo "$want" > "$stamp"
}

p300_npm() {
    local stamp=node_modules/.p300-stamp want
    command -v npm >/dev/null || p300_die "npm (Node.js 20) is required for the CDK CLI: apt-get install nodejs npm"
    want=$(sha256sum package-lock.json | cut -d' ' -f1)
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
    echo "p300: installing the pinned CDK CLI (package-lock.json) ..." >&2
    npm ci --no-audit --no-fund --loglevel=error >&2 || p300_die "npm ci failed"
    echo "$want" > "$stamp"
}

p300_bootstrap() {
    cd "$P300_REPO" || exit 1
    P300_PY313=$(p300_find_python313) || p300_die "Python 3.13 was not found.
  Looked for: \$P300_PYTHON, python3.13 on PATH, and \$(pyenv root)/versions/3.13*/bin/python3.13.
  Install it (for example: pyenv install 3.13, or your distribution's python3.13 package),
  or point P300_PYTHON at a Python 3.13 interpreter, then run the command again."
    p300_venv .venv requirements/lock.txt -e .
    p300_venv .venv-localstack requirements/localstack-lock.txt
    p300_venv .venv-lambda requirements/lambda-runtime-lock.txt
    p300_npm
    # jsii (the CDK library bridge) prints a banner about Node 20 reaching end-of-life.
    export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
}

# The console's browser tests drive Debian's Chromium (tests/integration/console): `./p300 test`
# installs it when it is missing and we are root; otherwise it says how.
p300_chromium() {
    local browser=${P300_CHROMIUM:-/usr/bin/chromium}
    [ -x "$browser" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "p300: installing Debian's chromium for the browser tests ..." >&2
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } >&2 \
            || p300_die "could not install chromium (apt-get install -y chromium failed)"
    else
        echo "p300: the console's browser tests need Debian's chromium at $browser and will fail" \
            "without it: run as root: apt-get install -y chromium" >&2
    fi
}
