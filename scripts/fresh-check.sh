#!/usr/bin/env bash
# Runs the README's two commands (the demo and the tests), exactly as written there, in a
# brand-new clone of this repository's HEAD: nothing built or installed in this checkout
# is reused. Each command runs twice; the second run shows what a repeat costs.
#   bash scripts/fresh-check.sh [--keep] [--only demo|test]
# Exit status: 0 when every run passed. Logs: <clone>/fresh-check-<name>-<n>.log.
set -uo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
keep=0
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --only) only="$2"; shift ;;
    *) echo "usage: fresh-check.sh [--keep] [--only demo|test]" >&2; exit 2 ;;
  esac
  shift
done

# The command under a `<!-- fresh:NAME -->` marker in the README (the line inside the block).
command_of() {
  awk -v marker="<!-- fresh:$1 -->" '
    $0 == marker { found = 1; next }
    found && /^```/ { if (inside) exit; inside = 1; next }
    found && inside { print; exit }
  ' "$here/README.md"
}

clone="$(mktemp -d /tmp/fresh-check.XXXXXX)"
git clone --quiet "$here" "$clone" || exit 1
echo "fresh clone of $(git -C "$here" rev-parse --short HEAD) in $clone"
if [ -n "$(git -C "$here" status --porcelain)" ]; then
  echo "note: this checkout has uncommitted changes; the clone has only what is committed"
fi

status=0
for name in demo test; do
  [ -n "$only" ] && [ "$only" != "$name" ] && continue
  cmd="$(command_of "$name")"
  if [ -z "$cmd" ]; then
    echo "FAIL $name: no command under <!-- fresh:$name --> in README.md"
    status=1
    continue
  fi
  for run in 1 2; do
    log="$clone/fresh-check-$name-$run.log"
    start=$(date +%s)
    (cd "$clone" && CI="${CI:-true}" bash -c "$cmd") >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then
      echo "ok   $name (run $run, ${took} s): $cmd"
    else
      echo "FAIL $name (run $run, ${took} s, exit $rc): $cmd"
      echo "---- last lines of $log"
      tail -n 40 "$log"
      status=1
      break
    fi
  done
done

if [ $keep -eq 0 ] && [ $status -eq 0 ]; then
  rm -rf "$clone"
else
  echo "clone kept: $clone"
fi
exit $status
