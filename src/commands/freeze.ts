import { LxcCommand } from '../cli/base-command';
import { containerArg } from '../cli/shared-options';

export default class Freeze extends LxcCommand<typeof Freeze> {
  static override summary = 'freeze all processes of a running container';
  static override examples = ['<%= config.bin %> freeze web'];
  static override args = { name: containerArg };

  async run(): Promise<{ name: string; state: string }> {
    const container = this.container(this.args.name);
    await container.freeze();
    const state = await container.state();
    this.log(`${container.name} ${state}`);
    return { name: container.name, state };
  }
}
