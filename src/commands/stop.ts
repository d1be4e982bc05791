import { Flags } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';
import { haltOrKill, haltTimeoutFlag } from '../cli/halt';
import { containerArg } from '../cli/shared-options';

export default class Stop extends LxcCommand<typeof Stop> {
  static override summary = 'stop a container: clean halt, then kill if it does not halt in time';
  static override examples = ['<%= config.bin %> stop web', '<%= config.bin %> stop web --kill'];
  static override args = { name: containerArg };
  static override flags = {
    kill: Flags.boolean({ char: 'k', description: 'kill at once, without a clean halt' }),
    timeout: haltTimeoutFlag,
  };

  async run(): Promise<{ name: string; state: string; killed: boolean }> {
    const container = this.container(this.args.name);
    let killed = this.flags.kill;
    if (killed) await container.stop();
    else killed = await haltOrKill(container, this.flags.timeout);
    const result = { name: container.name, state: await container.state(), killed };
    this.log(`${result.name} stopped${killed ? ' (killed)' : ''}`);
    return result;
  }
}
