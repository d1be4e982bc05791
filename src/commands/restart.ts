import { LxcCommand } from '../cli/base-command';
import { haltOrKill, haltTimeoutFlag } from '../cli/halt';
import { containerArg } from '../cli/shared-options';

export default class Restart extends LxcCommand<typeof Restart> {
  static override summary = 'stop a container (clean halt, then kill) and start it again';
  static override examples = ['<%= config.bin %> restart web'];
  static override args = { name: containerArg };
  static override flags = {
    timeout: haltTimeoutFlag,
  };

  async run(): Promise<{ name: string; state: string; pid: number | null }> {
    const container = this.container(this.args.name);
    if (await container.running()) await haltOrKill(container, this.flags.timeout);
    await container.start();
    const result = { name: container.name, state: await container.state(), pid: await container.initPid() };
    this.log(`${result.name} restarted (pid ${result.pid})`);
    return result;
  }
}
