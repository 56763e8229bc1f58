#!/usr/bin/env bash
# Runs every test file under test/ (or the files given) with node:test. Each file is its own process.
#
# It builds first: the CLI tests run bin/eid.js on the compiled dist/ (the command as npm installs
# it), so testing without a build would test whatever stale dist/ lies in the checkout. `npm test`
# therefore has no build step of its own.
#
# Every test gets a deadline (--test-timeout, also the default of before/after hooks) so a hang fails
# instead of stalling CI. 300 s: the slowest test without its own timeout option is the demo (its
# script gets 240 s); tests and hooks that need more (first-use image builds) say so themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test -name '*.test.ts' | sort); fi
exec node --import tsx --test --test-timeout=300000 --test-reporter=spec --test-reporter-destination=stdout \
  "${files[@]}"
