import { Args, Flags } from '@oclif/core';

import { LxcCommand } from '../../cli/base-command';
import { containerArg } from '../../cli/shared-options';

export default class SnapshotRestore extends LxcCommand<typeof SnapshotRestore> {
  static override summary = 'restore a snapshot over the container, or as a new container';
  static override examples = ['<%= config.bin %> snapshot restore web snap0', '<%= config.bin %> snapshot restore web snap0 --as web-old'];
  static override args = {
    name: containerArg,
    snapshot: Args.string({ description: 'snapshot name, e.g. snap0', required: true }),
  };
  static override flags = { as: Flags.string({ description: 'restore as a new container with this name' }) };

  async run(): Promise<{ name: string; snapshot: string; restoredAs: string }> {
    const container = this.container(this.args.name);
    await container.restoreSnapshot(this.args.snapshot, this.flags.as);
    const restoredAs = this.flags.as ?? container.name;
    this.log(`${this.args.snapshot} restored as ${restoredAs}`);
    return { name: container.name, snapshot: this.args.snapshot, restoredAs };
  }
}
