import { LxcCommand } from '../cli/base-command';
import { formatBytes } from '../cli/format';
import { containerArg } from '../cli/shared-options';
import { ContainerInfo, inspect } from '../lxc/inspect';

export default class Info extends LxcCommand<typeof Info> {
  static override summary = "show a container's state, pid, addresses, CPU, memory and traffic";
  static override examples = ['<%= config.bin %> info web', '<%= config.bin %> info web --json'];
  static override args = { name: containerArg };

  async run(): Promise<ContainerInfo> {
    const container = await this.existingContainer(this.args.name, 'info');
    const info = await inspect(container);
    const rows: Array<[string, string]> = [
      ['Name', info.name],
      ['State', info.state],
      ['PID', info.pid === null ? '-' : String(info.pid)],
      ['IPv4', info.ipv4.join(', ') || '-'],
      ['IPv6', info.ipv6.join(', ') || '-'],
      ['CPU use', info.cpuNs === null ? '-' : `${(info.cpuNs / 1e9).toFixed(2)} seconds`],
      ['Memory use', formatBytes(info.memoryBytes)],
      ['Memory limit', info.pid === null ? '-' : info.memoryLimitBytes === null ? 'none' : formatBytes(info.memoryLimitBytes)],
      ...Object.entries(info.network).map(([iface, s]): [string, string] => [`Link ${iface}`, `rx ${formatBytes(s.rxBytes)}, tx ${formatBytes(s.txBytes)}`]),
    ];
    const width = Math.max(...rows.map(([k]) => k.length)) + 2;
    for (const [key, value] of rows) this.log(`${`${key}:`.padEnd(width)}${value}`);
    return info;
  }
}
