#!/usr/bin/env node
// Compiles the native addon against the system liblxc with node-gyp.
// Runs as the package's install script, so it must work offline: Node's headers are taken
// from the running Node installation (or npm's nodedir setting) instead of being downloaded.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function fail(message) {
  console.error(`lxcts: ${message}`);
  process.exit(1);
}

function nodeGypScript() {
  // npm exposes its bundled node-gyp to install scripts; fall back to a local one.
  if (process.env.npm_config_node_gyp && fs.existsSync(process.env.npm_config_node_gyp)) {
    return process.env.npm_config_node_gyp;
  }
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    const bundled = path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
    if (fs.existsSync(bundled)) return bundled;
  }
  return fail('node-gyp not found; install it with: npm install -g node-gyp');
}

function localNodedir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include/node/node_api.h')) ? prefix : undefined;
}

const pkgConfig = spawnSync('pkg-config', ['--exists', 'lxc']);
if (pkgConfig.error || pkgConfig.status !== 0) {
  fail(
    'liblxc development files not found (pkg-config lxc failed).\n' +
      '  Fix: sudo bash scripts/setup-host.sh   (or: apt-get install lxc-dev pkg-config build-essential)',
  );
}

// A repeated `npm install` must not recompile an addon that is already built from these
// very sources, for this Node ABI and this liblxc: the stamp records what the build used.
const outputs = ['lxcts.node', 'lxcts-attach', 'lxcts-execute', 'lxcts-lifecycle'].map((f) => path.join(root, 'build', 'Release', f));
const stampFile = path.join(root, 'build', 'lxcts-build-stamp');
function sourcesStamp() {
  const hash = require('node:crypto').createHash('sha256');
  const lxcVersion = spawnSync('pkg-config', ['--modversion', 'lxc'], { encoding: 'utf8' }).stdout.trim();
  hash.update(`node-abi ${process.versions.modules} napi ${process.versions.napi} lxc ${lxcVersion}\n`);
  const addonDir = path.join(root, 'addon');
  for (const file of [
    'binding.gyp',
    ...fs
      .readdirSync(addonDir)
      .sort()
      .map((f) => path.join('addon', f)),
  ]) {
    hash.update(`${file}\n`).update(fs.readFileSync(path.join(root, file)));
  }
  return hash.digest('hex');
}
const stamp = sourcesStamp();
const force = process.argv.includes('--force');
if (!force && outputs.every((f) => fs.existsSync(f)) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp) {
  console.log('lxcts: addon already built from these sources (npm run build:addon -- --force rebuilds it)');
  process.exit(0);
}

const args = [nodeGypScript(), 'rebuild'];
const nodedir = localNodedir();
if (nodedir) args.push(`--nodedir=${nodedir}`);
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (result.status !== 0) fail(`building the addon failed (node-gyp exited with ${result.status})`);
fs.writeFileSync(stampFile, stamp);
