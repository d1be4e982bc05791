import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

import { Container, listContainers } from '../src';
import { Sandbox } from './helpers/sandbox';
import { at } from './helpers/must';

const sandbox = new Sandbox('stress');
afterAll(() => sandbox.cleanup());

// Outcomes that are correct answers to a racing call, not failures of lxcts.
const RACE_OUTCOMES = new Set(['LXC_ALREADY_RUNNING', 'LXC_NOT_RUNNING']);

test('20 rounds of 16 concurrent state, config, start and stop calls on shared objects neither hang nor leak', async () => {
  const names = [sandbox.name('stress'), sandbox.name('stress')];
  for (const name of names) await sandbox.busybox(name);
  // Two shared objects per container: calls race within one object and across objects.
  const shared: Container[] = names.flatMap((name) => [sandbox.container(name), sandbox.container(name)]);

  const unexpected: string[] = [];
  const calls: Array<(c: Container) => Promise<unknown>> = [
    (c) => c.state(),
    (c) => c.running(),
    (c) => c.getConfigItem('lxc.uts.name'),
    (c) => c.setConfigItem('lxc.start.delay', '1'),
    (c) => c.initPid(),
    (c) => c.start(),
    (c) => c.stop(),
    (c) => c.defined(),
  ];
  for (let round = 0; round < 20; round++) {
    await Promise.all(
      Array.from({ length: 16 }, (_, i) => {
        const c = at(shared, (i + round) % shared.length);
        return at(
          calls,
          (i * 3 + round) % calls.length,
        )(c).catch((err: { code?: string; message?: string }) => {
          if (!RACE_OUTCOMES.has(err.code ?? '')) unexpected.push(`${err.code}: ${err.message}`);
        });
      }),
    );
  }
  expect(unexpected).toEqual([]);

  for (const name of names) {
    const c = sandbox.container(name);
    if (await c.running()) await c.stop();
    await c.destroy();
  }
  expect(await listContainers({ lxcpath: sandbox.lxcpath })).toEqual([]);
  // No monitor process of this lxcpath survives its container.
  const monitors = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes('[lxc monitor]') && line.includes(sandbox.lxcpath));
  expect(monitors).toEqual([]);
  // Nor its monitor's cgroups (lxc.monitor.NAME in each hierarchy, below init's cgroup):
  // a start racing a stop used to leave them, one per hierarchy, every run.
  const leftCgroups = fs
    .readdirSync('/sys/fs/cgroup', { withFileTypes: true })
    .filter((hierarchy) => hierarchy.isDirectory())
    .flatMap((hierarchy) =>
      names.filter((name) => fs.existsSync(`/sys/fs/cgroup/${hierarchy.name}/lxc.monitor.${name}`)).map((name) => `${hierarchy.name}/lxc.monitor.${name}`),
    );
  expect(leftCgroups).toEqual([]);
}, 180_000);
