#!/usr/bin/env bash
# Prepares a Debian 12 / Ubuntu 22.04+ host for lxcts: LXC with its headers and templates,
# busybox for the test containers, a C++ toolchain for the addon, and the lxc-net bridge.
# Idempotent: run it as often as you like; it installs only what is missing.
# Used by the README, .ci/run, the Vagrant box and the GitHub workflow alike.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host.sh must run as root (try: sudo bash scripts/setup-host.sh)" >&2
  exit 1
fi

export PATH="$PATH:/usr/local/go/bin"

log() { printf '[setup-host] %s\n' "$*"; }

# Debian package names; `lxc-dev` brings lxc/lxccontainer.h and lxc.pc for pkg-config.
# The bench's peers (bench/): python3-lxc, and go-lxc's source (the Go module proxy
# refuses gopkg.in/lxc/go-lxc.v2, so bench/peers/go/go.mod points at Debian's copy).
# clang-format: `npm run lint` (part of `npm test`) checks the addon's C++ layout with it.
# vagrant, vagrant-libvirt: the test suite runs `vagrant validate` on vagrant/Vagrantfile (no VM
# is started; the libvirt plugin lets it check that provider's settings too).
packages=(lxc lxc-dev lxc-templates busybox-static pkg-config build-essential python3 tmux git debootstrap rsync openssl curl
          dnsmasq-base iptables nftables iproute2 uidmap python3-lxc golang-gopkg-lxc-go-lxc.v2-dev clang-format vagrant vagrant-libvirt)
# chromium: the dashboard's browser test drives Debian's Chromium (/usr/bin/chromium) with
# playwright-core, which never downloads a browser of its own. The tests run as root, where
# Chromium's sandbox refuses to start, so the test turns it off (playwright's chromiumSandbox).
# Ubuntu ships Chromium only as a snap, which does not run in CI containers: there the test
# takes an installed Google Chrome (GitHub's runners have /usr/bin/google-chrome) or LXCTS_CHROMIUM.
if [ "$(. /etc/os-release && echo "${ID:-}")" = debian ]; then packages+=(chromium); fi
# Go builds NSQ and actionlint below: Debian's, unless a Go is already there (CI runners bring theirs).
command -v go >/dev/null || packages+=(golang-go)
# python3-prometheus-client: the server's /metrics test reads it with Prometheus's own parser.
packages+=(python3-prometheus-client)
# strace: a files test lists the calls lxcts-files untar makes to set modes, owners and times
# (each must act on a descriptor or refuse to follow a link); the lifecycle-server test injects
# faults (a failed sendmsg, a SIGSTOP) into the server and its spare.
packages+=(strace)
# btrfs-progs: the btrfs storage backend's test makes a btrfs lxcpath (mkfs.btrfs on a loop image).
packages+=(btrfs-progs)
# criu: Container.checkpoint/restore/migrate (liblxc runs it); its tests skip, saying why, where `criu check` fails.
packages+=(criu)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "packages already installed"
fi

# Node.js 20 or newer. Debian 12 has 18 (and no newer one, backports included): install
# Node's official build from PyPI then (scripts/install-node.sh says how), so that bare
# machines and the Vagrant box share this one path.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  log "Node.js ${node_major/#0/(none)} is older than 20: installing Node.js 22 into /usr/local"
  bash "$(dirname "$0")/install-node.sh" /usr/local
  hash -r
  case "$(command -v node)" in
    /usr/local/bin/node) ;;
    *) echo "Node.js 22 is in /usr/local/bin, but $(command -v node) comes first on the PATH: put /usr/local/bin first" >&2; exit 1 ;;
  esac
else
  log "Node.js $(node --version) already installed"
fi

# The lxc-net bridge (lxcbr0 with dnsmasq). Hosts without systemd as PID 1 never run
# lxc-net.service, so start its script by hand; it refuses to run twice, hence the check.
if [ -f /etc/default/lxc-net ] && grep -q '^USE_LXC_BRIDGE=' /etc/default/lxc-net; then
  sed -i 's/^USE_LXC_BRIDGE=.*/USE_LXC_BRIDGE="true"/' /etc/default/lxc-net
else
  echo 'USE_LXC_BRIDGE="true"' >> /etc/default/lxc-net
fi
lxc_net=/usr/libexec/lxc/lxc-net
[ -x "$lxc_net" ] || lxc_net=/usr/lib/x86_64-linux-gnu/lxc/lxc-net
# Up means serving DHCP too: a bridge whose dnsmasq died leaves every container without an
# address (seen on a long-lived machine), and lxc-net would still say it is running.
dnsmasq_alive() {
  local pid
  pid="$(cat /run/lxc/dnsmasq.pid 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dnsmasq ]
}
if [ -d /sys/class/net/lxcbr0 ] && [ -f /run/lxc/network_up ] && dnsmasq_alive; then
  log "lxc-net bridge lxcbr0 already up"
elif [ -d /run/systemd/system ]; then
  systemctl enable lxc-net.service
  systemctl restart lxc-net.service
else
  if [ -f /run/lxc/network_up ]; then
    log "lxc-net bridge lxcbr0 is up but its DHCP server (dnsmasq) is not running: restarting it"
    # The pid in it is stale: lxc-net would kill -9 whatever process has that pid now.
    rm -f /run/lxc/dnsmasq.pid /run/lxc/network_up
  else
    log "starting the lxc-net bridge by hand (systemd is not PID 1)"
  fi
  "$lxc_net" start
fi

# On CI machines containers must not reach past this host: keep the bridge (DHCP to the
# host still works) but drop NAT and forwarding out of it.
if [ "${CI:-}" = "true" ] || [ "${LXCTS_ISOLATE_BRIDGE:-}" = "1" ]; then
  if command -v nft >/dev/null && nft list table ip lxc >/dev/null 2>&1; then
    nft delete table ip lxc
  fi
  if command -v nft >/dev/null && nft list chain inet lxc forward >/dev/null 2>&1 \
     && ! nft list chain inet lxc forward | grep -q 'lxcts-isolate'; then
    nft insert rule inet lxc forward iifname lxcbr0 drop comment '"lxcts-isolate"'
  fi
  iptables -w -t nat -D POSTROUTING -s 10.0.3.0/24 ! -d 10.0.3.0/24 -j MASQUERADE 2>/dev/null || true
  log "bridge isolated: no NAT, no forwarding out of lxcbr0"
fi

# Build containers are unprivileged: their root is a range of 65536 host uids and gids that
# root owns in /etc/subuid and /etc/subgid (liblxc's setuid newuidmap/newgidmap check it).
# Keep root's range if it has one of 65536 ids in both files; otherwise give root the first
# free block at or above 100000 in both (usermod refuses overlaps and records the range, so
# useradd never hands it to a user).
ci_ids=65536
has_range() { awk -F: -v n="$ci_ids" '($1 == "root" || $1 == "0") && $3 >= n { found = 1 } END { exit !found }' "$1"; }
if has_range /etc/subuid && has_range /etc/subgid; then
  log "root already has subordinate uid and gid ranges for build containers"
else
  start=$(cat /etc/subuid /etc/subgid | awk -F: 'BEGIN { end = 100000 } NF == 3 && $2 + $3 > end { end = $2 + $3 } END { print end }')
  usermod --add-subuids "${start}-$((start + ci_ids - 1))" --add-subgids "${start}-$((start + ci_ids - 1))" root
  log "root's subordinate ids for build containers: ${start}-$((start + ci_ids - 1)) (/etc/subuid, /etc/subgid)"
fi

# NSQ 1.3.0 (nsqd, nsqlookupd) for the CI pipeline: no distribution packages it, so build
# it from the Go module proxy through scripts/nsq/go.mod (see the comment there). Reuses
# binaries already on the PATH.
nsq_version=1.3.0
if ! nsqd --version 2>/dev/null | grep -q "v${nsq_version}" || ! command -v nsqlookupd >/dev/null; then
  command -v go >/dev/null || { echo "Go is needed to build NSQ (apt-get install golang-go)" >&2; exit 1; }
  log "building nsqd and nsqlookupd ${nsq_version} with $(go version | cut -d' ' -f3)"
  (cd "$(dirname "$0")/nsq" && GOFLAGS=-mod=mod go build -o /usr/local/bin/ \
    github.com/nsqio/nsq/apps/nsqd github.com/nsqio/nsq/apps/nsqlookupd)
else
  log "nsqd and nsqlookupd ${nsq_version} already installed"
fi

# actionlint checks .github/workflows in the test suite; built from the Go module proxy.
# 1.7.7 is built by Debian 12's Go (1.19; checked); 1.7.12 needs Go 1.25.
actionlint_version=1.7.7
if ! actionlint -version 2>/dev/null | grep -qx "v${actionlint_version}"; then
  log "building actionlint ${actionlint_version}"
  GOBIN=/usr/local/bin go install "github.com/rhysd/actionlint/cmd/actionlint@v${actionlint_version}"
else
  log "actionlint ${actionlint_version} already installed"
fi

# Native modules (lxcts's addon, better-sqlite3) compile with node-gyp, which otherwise
# downloads Node's headers: point npm at the ones installed with Node, if it has them.
node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
if [ -f "$node_prefix/include/node/node_api.h" ] && ! npm config get nodedir 2>/dev/null | grep -q '^/'; then
  npm config set nodedir "$node_prefix" 2>/dev/null && log "npm nodedir set to $node_prefix (offline native builds)"
fi

# A quick health check that says what is wrong instead of failing later in a test.
pkg-config --exists lxc || { echo "pkg-config cannot find lxc (is lxc-dev installed?)" >&2; exit 1; }
command -v busybox >/dev/null || { echo "busybox not found on PATH" >&2; exit 1; }
log "liblxc $(pkg-config --modversion lxc) ready"
