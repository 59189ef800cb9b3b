#!/usr/bin/env bash
# `make lint`: what an azure-cli-extensions maintainer runs on an extension, offline, plus the same pylint and
# flake8 rules on the sandbox, the tests and the benchmarks. Exit code: non-zero when any step finds something
# (every step runs, so one run lists everything).
#
# azdev expects `azdev setup` in an azure-cli checkout and writes to ~/.azdev; here everything lives under .lint/
# (ignored): an azdev config dir, a placeholder azure-cli "repo" holding only scripts/ci/cmdcov.yml (azdev reads it
# at import time and downloads it when it is missing), the rc files copied from the azdev package, and the extension
# in an extension "repo" as azdev finds it (a folder named aks-connection holding the package and its egg-info).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
VENV="$REPO/.venv-lint"
LINT="$REPO/.lint"
EXT_REPO="$LINT/ext"
EXT="$EXT_REPO/aks-connection"
CLI_REPO="$LINT/cli-repo"

export VIRTUAL_ENV="$VENV"                       # azdev derives its config dir from it (crashes without it)
export PATH="$VENV/bin:$PATH"
export AZDEV_CONFIG_DIR="$LINT/azdev"
export AZDEV_CLI_REPO_PATH="$CLI_REPO"           # knack config: [cli] repo_path
export AZDEV_EXT_REPO_PATHS="$EXT_REPO"          # knack config: [ext] repo_paths
export AZURE_CONFIG_DIR="$LINT/azconfig"
export AZURE_EXTENSION_DIR="$LINT/azext"         # empty: no installed wheel shadows the checkout
export AZURE_EXTENSION_DEV_SOURCES="$EXT_REPO"   # az loads the extension from the checkout
export AZURE_CORE_COLLECT_TELEMETRY=false
export PYLINTHOME="$LINT/pylint"
export PYTHONDONTWRITEBYTECODE=1

mkdir -p "$CLI_REPO/scripts/ci" "$EXT" "$AZURE_CONFIG_DIR" "$AZURE_EXTENSION_DIR" "$PYLINTHOME"
# The keys azdev's command-coverage module reads at import time; the patterns are never used by the rule groups run
# here (command_test_coverage needs a download and is not run).
cat > "$CLI_REPO/scripts/ci/cmdcov.yml" <<'YAML'
CMD_PATTERN: ["az\\s+\\S+"]
QUO_PATTERN: "[\"']"
END_PATTERN: ["$"]
DOCS_END_PATTERN: ["$"]
NOT_END_PATTERN: "\\\\$"
NUMBER_SIGN_PATTERN: "^\\s*#"
YAML
CONFIG_FILES="$AZDEV_CONFIG_DIR/env_config$VENV/config_files"
mkdir -p "$CONFIG_FILES"
AZDEV_PKG=$("$VENV/bin/python" -c "import azdev, os; print(os.path.dirname(azdev.__file__))")
cp "$AZDEV_PKG"/config/{ext_pylintrc,ext.flake8,cli_pylintrc,cli.flake8} "$CONFIG_FILES/"
PYLINTRC="$CONFIG_FILES/ext_pylintrc"
FLAKE8RC="$CONFIG_FILES/ext.flake8"

# The extension as azdev and az's dev_sources find it: links to the checkout, and the egg-info setup.py makes.
for f in azext_aks_connection setup.py README.md HISTORY.rst; do ln -sfn "$REPO/$f" "$EXT/$f"; done
"$VENV/bin/python" scripts/linter_exclusions.py "$EXT/linter_exclusions.yml"
(cd "$EXT" && "$VENV/bin/python" setup.py -q egg_info >/dev/null 2>"$LINT/egg_info.log") || {
    cat "$LINT/egg_info.log"; exit 1; }

rc=0
step() {  # step NAME COMMAND...: run, remember a failure, go on
    echo; echo "== $1"; shift
    "$@" || { echo "-- FAILED (rc $?)"; rc=1; }
}
step "license headers (azure-cli-extensions' azdev verify license: every Python file)" \
    "$VENV/bin/python" scripts/license_headers.py --check
step "linter_exclusions.yml is the one scripts/linter_exclusions.py writes" \
    "$VENV/bin/python" scripts/linter_exclusions.py --check linter_exclusions.yml
step "azdev linter aks-connection (offline rule groups)" \
    azdev linter aks-connection -t command_groups commands help_entries params
step "azdev style aks-connection (pylint + flake8 with azdev's extension rc files)" \
    azdev style aks-connection
# The same rc files on the rest of the repository. ext_pylintrc ignores folders named tests (in azure-cli-extensions
# the tests are not linted); here they are, so that one entry is overridden. On top of the rc file, each with its
# reason:
# - tests: pytest passes fixtures as arguments named after the fixture functions (redefined-outer-name), some only
#   for their side effect, a running sandbox or a seeded cluster (unused-argument); tests start az processes that
#   run alongside the test's own steps, each waited for with communicate() (consider-using-with); unit tests check
#   module internals (protected-access).
# - sandbox: its route handlers share one signature whether or not they use each part of the request
#   (unused-argument).
# - both: the size limits of the design checker. A test is a scenario read top to bottom; the emulator mirrors
#   Azure's REST bodies and routes, its seeders take a resource's fields as arguments.
DESIGN=too-many-positional-arguments,too-many-statements,too-many-return-statements,too-many-branches
DESIGN=$DESIGN,too-many-locals,too-many-instance-attributes,too-few-public-methods,too-many-public-methods
OTHER_PYLINT=(--rcfile="$PYLINTRC" --ignore=generated,vendored_sdks,privates --jobs 2 --score=n)
step "pylint tests (ext_pylintrc)" pylint tests "${OTHER_PYLINT[@]}" \
    --disable=$DESIGN,redefined-outer-name,unused-argument,consider-using-with,protected-access
step "pylint sandbox (ext_pylintrc)" pylint sandbox "${OTHER_PYLINT[@]}" --disable=$DESIGN,unused-argument
# bench/ is a folder of scripts (no package): they import the sandbox from the top of the repository.
step "pylint bench (ext_pylintrc)" env PYTHONPATH="$REPO" pylint bench/*.py "${OTHER_PYLINT[@]}"
step "flake8 sandbox tests bench scripts (ext.flake8)" \
    flake8 --statistics --config="$FLAKE8RC" sandbox tests bench scripts/linter_exclusions.py scripts/license_headers.py
echo
if [ "$rc" = 0 ]; then echo "lint: PASSED"; else echo "lint: FAILED"; fi
exit "$rc"
