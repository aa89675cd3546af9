#!/usr/bin/env bash
# Static analysis of the portable layers: cppcheck over core/ and app/ (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
  --std=c11 --inline-suppr -I . --suppress=missingIncludeSystem \
  core app
echo "lint: cppcheck clean"
