import { setTimeout as sleep } from 'node:timers/promises';

import { Flags } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';
import { formatBytes, renderTable } from '../cli/format';
import { containerArg } from '../cli/shared-options';
import { abortOn } from '../cli/signals';
import { sampleStats, StatsSample } from '../cli/stats-sample';

export default class Stats extends LxcCommand<typeof Stats> {
  static override summary = "show a running container's CPU, memory, network and block I/O use";
  static override description =
    'CPU % is the share of one CPU used between two samples (200% = two CPUs busy), as docker stats shows it. ' +
    'With --watch the view refreshes until Ctrl-C; with --watch --json every sample is one JSON line.';
  static override examples = ['<%= config.bin %> stats web', '<%= config.bin %> stats web --watch --interval 2'];
  static override args = { name: containerArg };
  static override flags = {
    watch: Flags.boolean({ char: 'w', description: 'refresh until interrupted' }),
    interval: Flags.integer({ description: 'seconds between samples', default: 1, min: 1 }),
  };

  async run(): Promise<StatsSample | void> {
    const container = this.container(this.args.name);
    const intervalMs = this.flags.interval * 1000;
    let previous = await sampleStats(container, null);
    await sleep(Math.min(intervalMs, 500));
    let sample = await sampleStats(container, previous);
    if (!this.flags.watch) {
      this.log(render(sample));
      return sample;
    }
    const { signal: interrupted, stop } = abortOn(['SIGINT']);
    try {
      while (!interrupted.aborted) {
        if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(sample)}\n`);
        // Clear the screen and redraw, like top and docker stats.
        else process.stdout.write(`\x1b[2J\x1b[H${render(sample)}\n`);
        // Ctrl-C ends the wait at once (an AbortError, the end of the loop).
        await sleep(intervalMs, undefined, { signal: interrupted }).catch(() => undefined);
        if (interrupted.aborted) break;
        previous = sample;
        sample = await sampleStats(container, previous);
      }
    } finally {
      stop();
    }
  }
}

function render(s: StatsSample): string {
  const net = Object.values(s.network).reduce((a, n) => ({ rx: a.rx + n.rxBytes, tx: a.tx + n.txBytes }), { rx: 0, tx: 0 });
  return renderTable(
    ['NAME', 'CPU %', 'MEM USAGE / LIMIT', 'NET I/O', 'BLOCK I/O'],
    [
      [
        s.name,
        s.cpuPercent === null ? '-' : `${s.cpuPercent.toFixed(2)}%`,
        `${formatBytes(s.memoryBytes)} / ${s.memoryLimitBytes === null ? 'unlimited' : formatBytes(s.memoryLimitBytes)}`,
        `${formatBytes(net.rx)} / ${formatBytes(net.tx)}`,
        `${formatBytes(s.blkio.readBytes)} / ${formatBytes(s.blkio.writeBytes)}`,
      ],
    ],
  );
}
