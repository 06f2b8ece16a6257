#!/usr/bin/env bash
# Regenerate requirements.lock, the constraints file that pins every package of an install
# (the README's two commands and .ci/run install with `-c requirements.lock`).
#
#   scripts/lock_requirements.sh                       # newest versions pyproject.toml allows
#   scripts/lock_requirements.sh -c requirements.lock  # keep today's pins, add what is new
#
# It installs fragilite with all its extras into a clean Python 3.11 venv and freezes it, so the
# file holds exactly what pip resolved together. Run it after changing a dependency in
# pyproject.toml, run the tests, commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "needs python3 = 3.11" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q -e ".[test,dask,bench]" "$@"
{
  echo "# Every package of \`pip install -e \".[test,dask,bench]\"\` on Python 3.11 (Linux x86_64), pinned."
  echo "# Used as constraints: pip install -c requirements.lock -e \".[test]\""
  echo "# Regenerate with scripts/lock_requirements.sh (see its header); do not edit by hand."
  "$work/venv/bin/pip" freeze --exclude-editable | LC_ALL=C sort -f
} > requirements.lock.tmp
mv requirements.lock.tmp requirements.lock
echo "requirements.lock: $(grep -vc '^#' requirements.lock) packages pinned"
