#!/usr/bin/env node
// The README's library example, runnable: one busybox container through its whole life in
// a throwaway lxcpath, commands run inside it, and the errors everyone meets first.
// Run: npm run build && node examples/binding.js. LXCTS_DEMO_BRIDGE picks the bridge (default: lxcbr0 from setup-host.sh).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { Container, lxcVersion } = require('lxcts');

async function main() {
  const lxcpath = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-binding-'));
  const web = new Container('demo-web', { lxcpath });
  try {
    console.log(`liblxc ${lxcVersion()}, lxcpath ${lxcpath}`);
    await web.setConfigItem('lxc.net.0.link', process.env.LXCTS_DEMO_BRIDGE || 'lxcbr0');
    await web.create({ template: 'busybox' });
    await web.start();
    console.log(`state:    ${await web.state()}`);
    console.log(`init pid: ${await web.initPid()}`);
    console.log(`hostname: ${await web.getConfigItem('lxc.uts.name')}`);

    // Run a command and collect its output; the exit code is the command's own.
    const uname = await web.exec(['/bin/uname', '-s']);
    console.log(`exec:     ${uname.stdout.toString().trim()} (exit ${uname.exitCode})`);
    const failing = await web.exec(['/bin/sh', '-c', 'exit 3']);
    console.log(`exit:     ${failing.exitCode}`);

    // Stream output as it is produced.
    const counter = await web.spawn(['/bin/sh', '-c', 'for i in 1 2 3; do echo "line $i"; done']);
    counter.stderr.resume();
    for await (const line of readline.createInterface({ input: counter.stdout })) console.log(`stream:   ${line}`);
    await counter.wait();

    // busybox's init asks the bridge's DHCP server for an address.
    const ips = await web.ipAddresses({ family: 'inet', timeout: 30 });
    console.log(`ipv4:     ${ips.join(', ')}`);
    const cpu = await web.cpuStats();
    console.log(`cpu:      ${(cpu.usageNs / 1e6).toFixed(1)} ms used`);

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
    // liblxc's lock files for the lxcpath (liblxc never removes them).
    fs.rmSync(path.join('/run/lxc/lock', lxcpath), { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`demo failed: ${err.code ?? ''} ${err.message}`);
  for (const line of err.details ?? []) console.error(`  ${line}`);
  process.exitCode = 1;
});
