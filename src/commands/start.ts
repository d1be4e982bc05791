import { LxcCommand } from '../cli/base-command';
import { containerArg } from '../cli/shared-options';

export default class Start extends LxcCommand<typeof Start> {
  static override summary = 'start a container in the background';
  static override examples = ['<%= config.bin %> start web'];
  static override args = { name: containerArg };

  async run(): Promise<{ name: string; state: string; pid: number | null }> {
    const container = this.container(this.args.name);
    await container.start();
    const result = { name: container.name, state: await container.state(), pid: await container.initPid() };
    this.log(`${result.name} started (pid ${result.pid})`);
    return result;
  }
}
