import { Flags } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';
import { abortOn } from '../cli/signals';
import { watch } from '../lxc/events';

export default class Monitor extends LxcCommand<typeof Monitor> {
  static override summary = 'print the state changes of containers as they happen';
  static override description =
    'Watches every container of the lxcpath, or only the ones named, until Ctrl-C. ' +
    'Each line is the time, the container and its new state (STARTING, RUNNING, STOPPING, STOPPED, FREEZING, FROZEN, THAWED, ABORTING); ' +
    'with --json, one JSON object per line. Reads what lxc-monitor reads (lxc-monitord is started when none runs).';
  static override examples = ['<%= config.bin %> monitor', '<%= config.bin %> monitor web db', '<%= config.bin %> monitor --json'];
  static override enableJsonFlag = false;
  static override strict = false;
  static override usage = 'monitor [NAME...] [--json] [--lxcpath <value>]';
  static override flags = {
    json: Flags.boolean({ description: 'one JSON object per line: {"time","container","state","lxcpath"}' }),
  };

  async run(): Promise<void> {
    const { argv } = await this.parse(Monitor, this.argv);
    const names = argv.map(String);
    const { signal, stop } = abortOn(['SIGINT', 'SIGTERM']);
    try {
      const events = await watch({ lxcpath: this.flags.lxcpath, containers: names.length > 0 ? names : undefined, signal });
      // On stderr, so that scripts reading stdout see events only: from here on none is missed.
      process.stderr.write(`watching ${names.length > 0 ? names.join(', ') : 'all containers'} in ${events.lxcpath}\n`);
      for await (const e of events) {
        const time = new Date().toISOString();
        process.stdout.write(this.flags.json ? `${JSON.stringify({ time, ...e })}\n` : `${time} ${e.container} ${e.state}\n`);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      stop();
    }
  }
}
