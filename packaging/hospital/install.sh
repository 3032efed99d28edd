#!/bin/sh
# Installs anon-pipeline's stage 1 on an offline hospital computer, from the wheels
# beside this script: no network is used (pip --no-index). Needs Python 3.11-3.13 of the
# same platform as the machine that built the bundle.
#   sh install.sh [VENV]     (default: ./venv next to this script)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-"$here/venv"}
python=${PYTHON:-python3}
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-index --find-links "$here/wheels" anon_pipeline
echo "installed: $venv/bin/anon-pipeline"
echo "stage 1:   $venv/bin/anon-pipeline blacklist CD_FOLDER PACKAGE_FOLDER --key-file KEY"
