import { Flags } from '@oclif/core';

import { ContainerWordsCommand } from '../cli/base-command';
import { parseEnv } from '../cli/options';
import { envFlag } from '../cli/shared-options';
import { CollectedOutput, showCommand } from '../cli/streams';

export default class Execute extends ContainerWordsCommand<typeof Execute> {
  static override summary = 'run a command as an application container (lxc-execute)';
  static override description =
    "The command runs as the container's init (under init.lxc) and the container stops when it exits. " +
    "A container that does not exist runs over the host's root filesystem with liblxc's default config. " +
    "lxcts exits with the command's exit code.";
  static override examples = [
    "<%= config.bin %> execute web -- /bin/sh -c 'echo hello from an app container'",
    '<%= config.bin %> execute scratch --set lxc.net.0.type=empty -- /bin/true',
  ];
  static override usage = '<%= command.id %> NAME [FLAGS] -- COMMAND [ARG...]';
  static override flags = {
    env: envFlag,
    set: Flags.string({ char: 's', description: 'config item KEY=VALUE for this run (repeatable)', multiple: true }),
    timeout: Flags.integer({ description: 'seconds before the container is stopped', min: 1 }),
  };

  async run(): Promise<CollectedOutput | void> {
    const argv = this.commandAfterDashes('the command to run');
    const container = this.container(this.args.name);
    const config = Object.entries(parseEnv(this.flags.set, '--set'));
    const options = { env: parseEnv(this.flags.env), config, timeout: this.flags.timeout };
    return showCommand(this, {
      collect: (input) => container.execute(argv, { ...options, input }),
      spawn: () => container.spawnExecute(argv, options),
      forwardStdin: !process.stdin.isTTY,
      terminal: false,
    });
  }
}
