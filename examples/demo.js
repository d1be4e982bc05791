#!/usr/bin/env node
// The README's library example: one busybox container through its whole life, in a
// throwaway lxcpath, plus the two errors every caller meets first. Run: npm run demo
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Container, lxcVersion } = require('lxcts');

async function main() {
  const lxcpath = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-demo-'));
  const web = new Container('demo-web', { lxcpath });
  try {
    console.log(`liblxc ${lxcVersion()}, lxcpath ${lxcpath}`);
    await web.create({ template: 'busybox' });
    await web.start();
    console.log(`state:    ${await web.state()}`);
    console.log(`init pid: ${await web.initPid()}`);
    console.log(`hostname: ${await web.getConfigItem('lxc.uts.name')}`);
    await web.stop();
    await web.destroy();
    console.log(`after destroy, defined: ${await web.defined()}`);

    try {
      new Container('../x', { lxcpath });
    } catch (err) {
      console.log(`new Container('../x')  -> ${err.code}`);
    }
    const ghost = new Container('no-such-container', { lxcpath });
    await ghost.start().catch((err) => console.log(`ghost.start()          -> ${err.code}: ${err.message}`));
    await ghost.release();
  } finally {
    if (await web.running().catch(() => false)) await web.stop();
    if (await web.defined().catch(() => false)) await web.destroy();
    await web.release();
    fs.rmSync(lxcpath, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`demo failed: ${err.code ?? ''} ${err.message}`);
  for (const line of err.details ?? []) console.error(`  ${line}`);
  process.exitCode = 1;
});
