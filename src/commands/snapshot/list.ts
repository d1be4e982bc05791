import { LxcCommand } from '../../cli/base-command';
import { renderTable } from '../../cli/format';
import { containerArg } from '../../cli/shared-options';
import { SnapshotInfo } from '../../lxc/container';

export default class SnapshotList extends LxcCommand<typeof SnapshotList> {
  static override summary = "list a container's snapshots";
  static override examples = ['<%= config.bin %> snapshot list web'];
  static override args = { name: containerArg };

  async run(): Promise<SnapshotInfo[]> {
    const snapshots = await this.container(this.args.name).snapshots();
    this.log(
      renderTable(
        ['SNAPSHOT', 'TAKEN'],
        snapshots.map((s) => [s.name, s.timestamp]),
      ),
    );
    return snapshots;
  }
}
