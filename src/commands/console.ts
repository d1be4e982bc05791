import { Errors, Flags } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';
import { EscapeReader, escapeByte } from '../cli/console-escape';
import { containerArg } from '../cli/shared-options';
import type { ContainerConsole } from '../lxc/console';

export default class Console extends LxcCommand<typeof Console> {
  static override summary = "attach this terminal to a running container's console or one of its ttys";
  static override description =
    'Like lxc-console: Ctrl-a q detaches (the container keeps running), Ctrl-a Ctrl-a types a Ctrl-a. ' +
    'Needs a terminal on stdin and stdout. --tty 0 is the console itself (/dev/console, where init writes); ' +
    'the default is the first free tty of lxc.tty.max.';
  static override examples = ['<%= config.bin %> console web', '<%= config.bin %> console web --tty 0', '<%= config.bin %> console web --escape b'];
  static override enableJsonFlag = false;
  static override args = { name: containerArg };
  static override flags = {
    tty: Flags.integer({ char: 't', description: 'tty number: 0 the console, -1 the first free tty', default: -1, min: -1 }),
    escape: Flags.string({ char: 'e', description: 'the escape key: Ctrl plus this letter, then q, detaches', default: 'a' }),
  };

  async run(): Promise<void> {
    const { stdin, stdout, stderr } = process;
    if (!stdin.isTTY || !stdout.isTTY) {
      throw new Errors.CLIError('lxcts console needs a terminal on stdin and stdout (use lxcts exec without -t to run a command instead)', { exit: 2 });
    }
    try {
      escapeByte(this.flags.escape);
    } catch (err) {
      throw new Errors.CLIError((err as Error).message, { exit: 2 });
    }
    const container = this.container(this.args.name);
    // LXC_NOT_RUNNING, LXC_CONSOLE_BUSY... are shown by the base command, terminal untouched.
    const con = await container.console({ tty: this.flags.tty, cols: stdout.columns || 80, rows: stdout.rows || 24 });
    const key = this.flags.escape.toLowerCase();
    stderr.write(`Connected to tty ${con.tty} of ${container.name}. Type Ctrl-${key} q to detach, Ctrl-${key} Ctrl-${key} for Ctrl-${key}.\r\n`);
    const detached = await this.#attach(con, new EscapeReader(key));
    stderr.write(detached ? `\r\nDetached from ${container.name}.\r\n` : `\r\nThe console of ${container.name} closed.\r\n`);
  }

  /** Until the detach keys, the console's end or a signal; the terminal is restored on every path. Resolves true when detached. */
  async #attach(con: ContainerConsole, escape: EscapeReader): Promise<boolean> {
    const { stdin, stdout } = process;
    let detachedByUser = false;
    const restore = () => {
      if (stdin.isTTY) stdin.setRawMode(false);
    };
    // Last resort: whatever ends the process, the terminal is not left raw.
    process.once('exit', restore);
    const onKeys = (chunk: Buffer) => {
      const { send, detach } = escape.feed(chunk);
      if (send.length > 0) con.input.write(send);
      if (detach) {
        detachedByUser = true;
        void con.detach();
      }
    };
    const onResize = () => con.resize(stdout.columns, stdout.rows);
    const onSignal = () => void con.detach();
    const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT'];
    try {
      stdin.setRawMode(true);
      stdin.on('data', onKeys);
      stdin.resume();
      stdout.on('resize', onResize);
      for (const s of signals) process.on(s, onSignal);
      con.output.pipe(stdout, { end: false });
      await new Promise<void>((resolve) => {
        con.output.once('end', resolve);
        con.output.once('close', resolve);
        con.output.once('error', () => resolve());
      });
      await con.detach();
      return detachedByUser;
    } finally {
      for (const s of signals) process.off(s, onSignal);
      stdout.off('resize', onResize);
      stdin.off('data', onKeys);
      stdin.pause();
      con.output.unpipe(stdout);
      restore();
      process.off('exit', restore);
    }
  }
}
