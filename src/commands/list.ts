import { Flags } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';
import { formatBytes, renderTable } from '../cli/format';
import { ContainerSummary, listSummaries } from '../lxc/inspect';

const COLUMNS = {
  name: { header: 'NAME', cell: (s: ContainerSummary) => s.name },
  state: { header: 'STATE', cell: (s: ContainerSummary) => s.state },
  ipv4: { header: 'IPV4', cell: (s: ContainerSummary) => s.ipv4.join(',') || '-' },
  ipv6: { header: 'IPV6', cell: (s: ContainerSummary) => s.ipv6.join(',') || '-' },
  pid: { header: 'PID', cell: (s: ContainerSummary) => (s.pid === null ? '-' : String(s.pid)) },
  memory: { header: 'MEMORY', cell: (s: ContainerSummary) => formatBytes(s.memoryBytes) },
};
type Column = keyof typeof COLUMNS;

export default class List extends LxcCommand<typeof List> {
  static override summary = 'list containers with their state, address, init pid and memory';
  static override hiddenAliases = ['ls'];
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --running --columns name,ipv4', '<%= config.bin %> list --json'];
  static override flags = {
    running: Flags.boolean({ description: 'only running containers', exclusive: ['stopped'] }),
    stopped: Flags.boolean({ description: 'only stopped containers', exclusive: ['running'] }),
    columns: Flags.string({
      char: 'c',
      description: `columns to show, comma-separated: ${Object.keys(COLUMNS).join(', ')}`,
      default: 'name,state,ipv4,pid,memory',
    }),
  };

  async run(): Promise<ContainerSummary[]> {
    const columns = this.flags.columns.split(',').map((c) => c.trim().toLowerCase());
    const unknown = columns.filter((c) => !(c in COLUMNS));
    if (unknown.length > 0) this.error(`unknown column ${unknown.join(', ')}; choose from ${Object.keys(COLUMNS).join(', ')}`, { exit: 2 });
    const all = await listSummaries({ lxcpath: this.flags.lxcpath, which: this.flags.running ? 'active' : 'all' });
    const summaries = all.filter((s) => (this.flags.stopped ? s.state === 'STOPPED' : this.flags.running ? s.state !== 'STOPPED' : true));
    const chosen = columns as Column[];
    this.log(
      renderTable(
        chosen.map((c) => COLUMNS[c].header),
        summaries.map((s) => chosen.map((c) => COLUMNS[c].cell(s))),
      ),
    );
    return summaries;
  }
}
