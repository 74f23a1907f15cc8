#!/usr/bin/env bash
# Installs otel_errors (from this repository) and requirements.txt into one directory,
# laid out as the OpenTelemetry Operator expects of a Python auto-instrumentation
# image: the Operator copies it into the pod and sets
#   PYTHONPATH=<dir>/opentelemetry/instrumentation/auto_instrumentation:<dir>
# whose sitecustomize.py starts the distro before the application.
#
#   install.sh TARGET [REPOSITORY]     (the Dockerfile's step; tests run it too)
#
# PYTHON (default python3) must be the Python of the applications: compiled
# dependencies are installed for that interpreter only.
set -euo pipefail
target="${1:?usage: install.sh TARGET [REPOSITORY]}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repository="${2:-$(cd "$here/../../.." && pwd)}"
"${PYTHON:-python3}" -m pip install --quiet --no-cache-dir --disable-pip-version-check \
    --target "$target" --constraint "$repository/tests/locks/dev.txt" \
    "$repository" --requirement "$here/requirements.txt"
# The image is copied by a non-root init container: everything must be readable.
chmod -R a+rX "$target"
