# Sourced by the other scripts: make .venv with Python 3.11 and install a requirements file,
# again only when that file (or what it includes) has changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON_BIN="${PYTHON:-}"
if [ -z "$PYTHON_BIN" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON_BIN=$cand; break
    fi
  done
fi
if [ -z "$PYTHON_BIN" ]; then
  echo "Python 3.11 is needed (Django 5.2 LTS); install it or set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

ensure_venv() {
  local reqs=$1
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $PYTHON_BIN"
    "$PYTHON_BIN" -m venv .venv
  fi
  local stamp=".venv/.installed-$(basename "$reqs")"
  local digest
  digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    echo "Installing $reqs into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$reqs"
    echo "$digest" > "$stamp"
  fi
}

# axe-core (the npm package) for the browser tests' accessibility checks, installed once under
# the gitignored .axe-core/; the browser tests install it themselves too when it is missing.
AXE_CORE_VERSION=4.10.3
ensure_axe() {
  if [ -f .axe-core/node_modules/axe-core/axe.min.js ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is needed for the accessibility checks (apt-get install npm)." >&2
    return 1
  fi
  echo "Installing axe-core $AXE_CORE_VERSION into .axe-core/"
  npm install --no-save --no-package-lock --no-audit --no-fund --silent --prefix .axe-core "axe-core@$AXE_CORE_VERSION"
}
