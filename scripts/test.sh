#!/usr/bin/env bash
# Runs every test file under test/ (or the files given) with node:test. Each file is its own process.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test -name '*.test.ts' | sort); fi
exec node --import tsx --test --test-reporter=spec --test-reporter-destination=stdout "${files[@]}"
