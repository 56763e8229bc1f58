#!/usr/bin/env bash
# Runs every test file under test/ (or the files given) with node:test. Each file is its own process.
#
# It builds first: the CLI tests run bin/eid.js on the compiled dist/ (the command as npm installs
# it), so testing without a build would test whatever stale dist/ lies in the checkout. `npm test`
# therefore has no build step of its own.
#
# Every test gets a deadline (--test-timeout, also the default of before/after hooks, and the bound
# of a whole file) so a hang fails instead of stalling CI. 600 s: the largest Docker-host files
# (clusters, remsh, the package) take 3 to 4 minutes on a loaded 2-core machine; tests and hooks
# that need more say so themselves.
#
# Files run three at a time (EID_TEST_CONCURRENCY): each is its own process with its own host set
# (EID_SET) and port slice (test/support/ports.ts), and most of a Docker-host file's time is spent
# waiting on dockerd and containers, so a third file in flight uses the two cores that would idle.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test -name '*.test.ts' | sort); fi
exec node --import tsx --test --test-concurrency="${EID_TEST_CONCURRENCY:-3}" --test-timeout=600000 --test-reporter=spec --test-reporter-destination=stdout \
  "${files[@]}"
