#!/bin/sh
# clang-format over the C++ we own (the addon and the wire test program), with the
# repository's .clang-format. Checks by default (npm run lint); `--fix` rewrites the files
# (npm run format). Where clang-format is not installed (a laptop without setup-host.sh) it
# says so and succeeds: setup-host.sh installs it, so `npm test` always checks.
set -eu
cd "$(dirname "$0")/.."
files="addon/*.cc addon/*.h test/unit/wire/wire_test.cc"
if ! command -v clang-format >/dev/null 2>&1; then
  echo "clang-format is not installed: C++ layout not checked (apt-get install clang-format, or run scripts/setup-host.sh)" >&2
  exit 0
fi
if [ "${1:-}" = "--fix" ]; then
  # shellcheck disable=SC2086 # the globs are meant to expand
  clang-format -i $files
else
  # shellcheck disable=SC2086
  clang-format --dry-run -Werror $files
fi
