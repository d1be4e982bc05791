#!/usr/bin/env bash
# Runs `npm run test:unit` the way a laptop without LXC would: as the unprivileged user
# `nobody`, in a mount namespace where liblxc, the lxc-* programs, the lxc directories and
# lxcts's compiled addon are hidden. Proves the unit tier needs neither root nor LXC.
# Run as root from a checkout where `npm install` has run:  bash scripts/unit-without-lxc.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ "$(id -u)" = 0 ] || { echo "run as root: it needs a mount namespace to hide LXC, then drops to nobody" >&2; exit 1; }
[ -d node_modules ] || { echo "npm install first" >&2; exit 1; }

home=$(mktemp -d /tmp/lxcts-nobody-XXXXXX)
chown nobody "$home"
trap 'rm -rf "$home"' EXIT

# Everything below runs in a private mount namespace: the hiding ends with it.
unshare --mount --propagation private bash -s "$root" "$home" <<'INNER'
set -euo pipefail
root=$1 home=$2
hide() { for f in "$@"; do [ -e "$f" ] && mount --bind /dev/null "$f"; done; return 0; }
hide /usr/lib/*/liblxc.so* /usr/bin/lxc-* /usr/sbin/lxc-* /usr/lib/*/lxc/rootfs/* 2>/dev/null
for d in /var/lib/lxc /usr/share/lxc /etc/lxc "$root/build"; do [ -d "$d" ] && mount -t tmpfs -o ro,size=1k none "$d"; done

echo "as $(su nobody -s /bin/sh -c id)"
if su nobody -s /bin/sh -c 'command -v lxc-start >/dev/null && lxc-start --version' >/dev/null 2>&1; then echo "lxc-start still runs" >&2; exit 1; fi
if su nobody -s /bin/sh -c "cd '$root' && node -e \"require('./build/Release/lxcts.node')\"" >/dev/null 2>&1; then echo "the addon still loads" >&2; exit 1; fi
echo "liblxc, the lxc-* programs and the addon are hidden"
su nobody -s /bin/sh -c "cd '$root' && HOME='$home' npm_config_cache='$home/npm' npm_config_update_notifier=false npm run test:unit"
INNER
