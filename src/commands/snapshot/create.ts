import { LxcCommand } from '../../cli/base-command';
import { containerArg } from '../../cli/shared-options';

export default class SnapshotCreate extends LxcCommand<typeof SnapshotCreate> {
  static override summary = 'take a snapshot of a stopped container';
  static override examples = ['<%= config.bin %> snapshot create web'];
  static override args = { name: containerArg };

  async run(): Promise<{ name: string; snapshot: string }> {
    const container = this.container(this.args.name);
    const snapshot = await container.snapshot();
    this.log(snapshot);
    return { name: container.name, snapshot };
  }
}
