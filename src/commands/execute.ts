import { Args, Flags } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';
import { parseEnv } from '../cli/options';
import { attachToTerminal, exitCodeOf } from '../cli/streams';

export default class Execute extends LxcCommand<typeof Execute> {
  static override summary = 'run a command as an application container (lxc-execute)';
  static override description =
    "The command runs as the container's init (under init.lxc) and the container stops when it exits. " +
    "A container that does not exist runs over the host's root filesystem with liblxc's default config. " +
    "lxcts exits with the command's exit code.";
  static override examples = [
    "<%= config.bin %> execute web -- /bin/sh -c 'echo hello from an app container'",
    '<%= config.bin %> execute scratch --set lxc.net.0.type=empty -- /bin/true',
  ];
  static override strict = false;
  static override usage = '<%= command.id %> NAME [FLAGS] -- COMMAND [ARG...]';
  static override args = { name: Args.string({ description: 'container name', required: true }) };
  static override flags = {
    env: Flags.string({ char: 'e', description: 'environment variable KEY=VALUE (repeatable)', multiple: true }),
    set: Flags.string({ char: 's', description: 'config item KEY=VALUE for this run (repeatable)', multiple: true }),
    timeout: Flags.integer({ description: 'seconds before the container is stopped', min: 1 }),
  };

  async run(): Promise<{ exitCode: number | null; signal: string | null; stdout: string; stderr: string } | void> {
    const argv = this.commandAfterDashes('the command to run');
    const container = this.container(this.args.name);
    const config = Object.entries(parseEnv(this.flags.set, '--set'));
    const options = { env: parseEnv(this.flags.env), config, timeout: this.flags.timeout };
    if (this.jsonEnabled()) {
      const input = process.stdin.isTTY ? undefined : process.stdin;
      const r = await container.execute(argv, { ...options, input });
      process.exitCode = exitCodeOf(r);
      return { exitCode: r.exitCode, signal: r.signal, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    }
    const proc = await container.spawnExecute(argv, options);
    const status = await attachToTerminal(proc, { forwardStdin: !process.stdin.isTTY, terminal: false });
    const code = exitCodeOf(status);
    if (code !== 0) this.exit(code);
  }
}
