#!/usr/bin/env bash
# The test command: type-check every package (sources, then tests and benches), then run the whole vitest suite once and print a
# plain 'N passed, N failed' closing line.
set -uo pipefail
cd "$(dirname "$0")/.."
npx tsc -b && npx tsc -p tsconfig.test.json || exit $?
results=$(mktemp)
npx vitest run --reporter=default --reporter=json --outputFile.json="$results"
rc=$?
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$results" || true
rm -f "$results"
exit $rc
