#!/bin/sh
# clang-format over the C++ we own (the addon and the wire test program), with the
# repository's .clang-format. Checks by default (npm run lint); `--fix` rewrites the files
# (npm run format).
# The layout is clang-format 14's (Debian 12, installed by setup-host.sh): other versions
# break some lines differently, so where only another version is installed (or none: a
# laptop), this says so and succeeds instead of reporting differences that are not mistakes.
set -eu
cd "$(dirname "$0")/.."
files="addon/*.cc addon/*.h test/unit/wire/wire_test.cc"
tool=""
for candidate in clang-format-14 clang-format; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" --version | grep -q 'version 14\.'; then
    tool=$candidate
    break
  fi
done
if [ -z "$tool" ]; then
  echo "clang-format 14 is not installed: C++ layout not checked (apt-get install clang-format on Debian 12, or run scripts/setup-host.sh)" >&2
  exit 0
fi
if [ "${1:-}" = "--fix" ]; then
  # shellcheck disable=SC2086 # the globs are meant to expand
  $tool -i $files
else
  # shellcheck disable=SC2086
  $tool --dry-run -Werror $files
fi
