import { Args } from '@oclif/core';

import { LxcCommand } from '../../cli/base-command';

export default class SnapshotCreate extends LxcCommand<typeof SnapshotCreate> {
  static override summary = 'take a snapshot of a stopped container';
  static override examples = ['<%= config.bin %> snapshot create web'];
  static override args = { name: Args.string({ description: 'container name', required: true }) };

  async run(): Promise<{ name: string; snapshot: string }> {
    const container = this.container(this.args.name);
    const snapshot = await container.snapshot();
    this.log(snapshot);
    return { name: container.name, snapshot };
  }
}
