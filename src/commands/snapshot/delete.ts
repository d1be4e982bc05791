import { Args } from '@oclif/core';

import { LxcCommand } from '../../cli/base-command';
import { containerArg } from '../../cli/shared-options';

export default class SnapshotDelete extends LxcCommand<typeof SnapshotDelete> {
  static override summary = 'delete a snapshot';
  static override examples = ['<%= config.bin %> snapshot delete web snap0'];
  static override args = {
    name: containerArg,
    snapshot: Args.string({ description: 'snapshot name', required: true }),
  };

  async run(): Promise<{ name: string; snapshot: string; deleted: boolean }> {
    await this.container(this.args.name).destroySnapshot(this.args.snapshot);
    this.log(`${this.args.snapshot} deleted`);
    return { name: this.args.name, snapshot: this.args.snapshot, deleted: true };
  }
}
