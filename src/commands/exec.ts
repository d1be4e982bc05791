import { Flags } from '@oclif/core';

import { ContainerWordsCommand } from '../cli/base-command';
import { parseEnv, parseUser } from '../cli/options';
import { envFlag } from '../cli/shared-options';
import { CollectedOutput, showCommand } from '../cli/streams';

export default class Exec extends ContainerWordsCommand<typeof Exec> {
  static override summary = 'run a command in a running container';
  static override description =
    'Output is streamed live and stdin is forwarded (always with -i; otherwise when it is not a terminal). ' +
    "lxcts exits with the command's own exit code, or 128+N when a signal N killed it.";
  static override examples = [
    '<%= config.bin %> exec web -- cat /etc/os-release',
    "<%= config.bin %> exec web --env GREETING=hi --cwd /tmp --user 1000:1000 -- sh -c 'echo $GREETING'",
    '<%= config.bin %> exec -it web -- sh',
  ];
  static override usage = '<%= command.id %> NAME [FLAGS] -- COMMAND [ARG...]';
  static override flags = {
    env: envFlag,
    cwd: Flags.string({ char: 'w', description: 'working directory inside the container' }),
    user: Flags.string({ char: 'u', description: 'UID or UID:GID to run as' }),
    timeout: Flags.integer({ description: 'seconds before the command is killed', min: 1 }),
    interactive: Flags.boolean({ char: 'i', description: 'forward stdin even when it is a terminal' }),
    tty: Flags.boolean({ char: 't', description: 'run on a pseudo-terminal (interactive shells)' }),
  };

  async run(): Promise<CollectedOutput | void> {
    const argv = this.commandAfterDashes('the command to run');
    const container = this.container(this.args.name);
    const options = {
      env: parseEnv(this.flags.env),
      cwd: this.flags.cwd,
      timeout: this.flags.timeout,
      ...parseUser(this.flags.user),
    };
    const terminal = this.flags.tty;
    const size = { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 };
    return showCommand(this, {
      collect: (input) => container.exec(argv, { ...options, input }),
      spawn: () => container.spawn(argv, { ...options, tty: terminal ? size : undefined }),
      forwardStdin: this.flags.interactive || !process.stdin.isTTY,
      terminal,
    });
  }
}
