/**
 * The base of every lxcts command: the global flags (--lxcpath, --verbose, --json), the
 * container a command works on, and how failures are shown and turned into exit codes.
 */
import { Command, Errors, Flags, Interfaces } from '@oclif/core';

import { Container } from '../lxc/container';
import { LxcError } from '../lxc/errors';
import { describeFailure, formatFailure } from './failure';
import { containerArg } from './shared-options';

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof LxcCommand)['baseFlags'] & T['flags']>;
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

export abstract class LxcCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    lxcpath: Flags.string({
      description: "directory holding the containers (default: liblxc's, /var/lib/lxc for root)",
      env: 'LXCTS_LXCPATH',
      helpGroup: 'GLOBAL',
    }),
    verbose: Flags.boolean({ description: "show liblxc's log lines when a call fails", helpGroup: 'GLOBAL' }),
  };

  protected flags!: CommandFlags<T>;
  protected args!: CommandArgs<T>;
  #containers: Container[] = [];
  /** The words after the first `--` of a command that takes them (strict = false). */
  #afterDashes: string[] | undefined;

  override async init(): Promise<void> {
    await super.init();
    const ctor = this.ctor as typeof LxcCommand;
    // The words after `--` belong to the command run in the container (or the template):
    // oclif is not shown them, so they can never be taken for this command's own name or
    // flags, and its parser (quadratic in the number of words) only sees the few before.
    const at = ctor.strict === false ? this.argv.indexOf('--') : -1;
    this.#afterDashes = at < 0 ? undefined : this.argv.slice(at + 1);
    const own = at < 0 ? this.argv : this.argv.slice(0, at);
    const { args, flags } = await this.parse(
      {
        args: ctor.args,
        baseFlags: ctor.baseFlags,
        enableJsonFlag: ctor.enableJsonFlag,
        flags: ctor.flags,
        strict: ctor.strict,
      },
      own,
    ).catch((err: Error) => {
      // oclif's own hint here ("use -- for the beginning of arguments") says the opposite.
      if (at >= 0 && /^Missing \d+ required arg/.test(err.message)) {
        throw new Errors.CLIError(`missing the container name: it goes before --, e.g. lxcts ${this.id} NAME -- ...`, { exit: 2 });
      }
      throw err;
    });
    this.flags = flags as CommandFlags<T>;
    this.args = args as CommandArgs<T>;
  }

  /** A handle on container `name` in the chosen lxcpath, released when the command ends. */
  protected container(name: string): Container {
    const container = new Container(name, { lxcpath: this.flags.lxcpath });
    this.#containers.push(container);
    return container;
  }

  /**
   * Like container(), for commands that only make sense on an existing container: an
   * unknown name is LXC_NOT_DEFINED, not liblxc's defaults for a container yet to be made.
   */
  protected async existingContainer(name: string, op: string): Promise<Container> {
    const container = this.container(name);
    if (!(await container.defined())) {
      throw new LxcError(`container "${name}" does not exist`, { code: 'LXC_NOT_DEFINED', op, container: name });
    }
    return container;
  }

  /** The words after `--` on the command line; a usage error when there are none. */
  protected commandAfterDashes(what: string): string[] {
    const words = this.#afterDashes ?? [];
    if (words.length === 0) {
      throw new Errors.CLIError(`missing ${what}: put it after --, e.g. lxcts ${this.id} NAME -- /bin/sh -c 'echo hi'`, { exit: 2 });
    }
    return words;
  }

  /** The words after `--`, or none. */
  protected wordsAfterDashes(): string[] {
    return this.#afterDashes ?? [];
  }

  override async catch(err: Error & { exitCode?: number }): Promise<void> {
    // Exits requested by the command itself (exec passing on a status) are not failures.
    if (err instanceof Errors.ExitError) throw err;
    const failure = describeFailure(err);
    if (this.jsonEnabled()) {
      process.exitCode = failure.exit;
      this.logJson({ error: { code: failure.code, message: failure.message, suggestion: failure.suggestion ?? null, details: failure.details } });
      return;
    }
    const verbose = Boolean(this.flags?.verbose);
    process.stderr.write(`${formatFailure(failure, verbose)}\n`);
    if (verbose && err.stack && failure.code === 'ERROR') process.stderr.write(`${err.stack}\n`);
    this.exit(failure.exit);
  }

  override async finally(err: Error | undefined): Promise<void> {
    await Promise.allSettled(this.#containers.map((c) => c.release()));
    await super.finally(err);
  }
}

/**
 * A command on one container, NAME, that takes more words after `--`: a command line to run
 * (`exec`, `execute`) or a template's arguments (`create`). Not strict, so that LxcCommand
 * keeps those words apart from this command's own (commandAfterDashes, wordsAfterDashes).
 */
export abstract class ContainerWordsCommand<T extends typeof Command> extends LxcCommand<T> {
  static override strict = false;
  static override args = { name: containerArg };
}
