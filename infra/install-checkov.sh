#!/usr/bin/env bash
# Installs checkov into its own virtualenv, .venv-checkov/ at the repository root.
#
# checkov pins dozens of dependencies that would clash with the project's own
# pins, so it never goes into .venv. The infra tests run .venv-checkov/bin/checkov
# and fail with a pointer to this script when it is missing; `make test` runs it
# first. Re-running is cheap: an installed venv with the pinned version is left alone.
set -euo pipefail

CHECKOV_VERSION="3.3.30"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.venv-checkov"
python="${PYTHON:-python3.11}"

if [ -x "${venv}/bin/checkov" ] \
  && [ "$("${venv}/bin/checkov" --version 2>/dev/null)" = "${CHECKOV_VERSION}" ]; then
  echo "checkov ${CHECKOV_VERSION} already installed in ${venv}"
  exit 0
fi

command -v "${python}" >/dev/null || {
  echo "error: ${python} not found; set PYTHON to a Python 3.11 interpreter" >&2
  exit 1
}

rm -rf "${venv}"
"${python}" -m venv "${venv}"
# Keeps the venv out of git (and out of ruff, which honours nested .gitignore files)
# without relying on the repository's own .gitignore.
printf '*\n' >"${venv}/.gitignore"
"${venv}/bin/python" -m pip install --quiet --upgrade pip
"${venv}/bin/python" -m pip install --quiet "checkov==${CHECKOV_VERSION}"
echo "installed checkov $("${venv}/bin/checkov" --version) in ${venv}"
