#!/usr/bin/env bash
# Every built bench (bench/dist/<name>.js of each bench/src/<name>.ts that declares its flags with
# benchArgs) must answer --help with exit 0 and a bad flag with exit 2, before doing any work. One
# bench at a time (each start loads the bench's packages, ~1 s); bench-args.test.ts starts a few of
# them in CI. Build first (npx tsc -b). Prints one line per bench; exit 1 if any fails.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
for src in src/*.ts; do
  grep -q '= benchArgs({' "$src" || continue
  name=$(basename "$src" .ts)
  node "dist/$name.js" --help >/tmp/bench-args-help.$$ 2>&1; help=$?
  node "dist/$name.js" --no-such-flag >/tmp/bench-args-bad.$$ 2>&1; bad=$?
  flags=$(grep -oE '^  --[a-z0-9-]+' /tmp/bench-args-help.$$ | tr -d ' ' | tr '\n' ' ')
  if [ "$help" = 0 ] && [ "$bad" = 2 ] && grep -q "unknown flag --no-such-flag" /tmp/bench-args-bad.$$; then
    echo "ok   $name (--help 0, --no-such-flag 2): ${flags:-no flags}"
  else
    echo "FAIL $name (--help $help, --no-such-flag $bad): $(head -c 300 /tmp/bench-args-bad.$$)"
    fail=1
  fi
done
rm -f /tmp/bench-args-help.$$ /tmp/bench-args-bad.$$
exit $fail
