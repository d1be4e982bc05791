import * as fs from 'node:fs';
import { Writable } from 'node:stream';

import { Args, Errors, Flags } from '@oclif/core';

import type { ServerStatus } from '../../ci/build-status';
import { followLocalLog } from '../../ci/log-tail';
import { CiCommand } from '../../cli/ci-command';
import { terminalSafe } from '../../cli/terminal-safe';
import { abortOn } from '../../cli/signals';
import { followServerLog, LogFollowError } from '../../server/log-follow';

export default class CiLogs extends CiCommand<typeof CiLogs> {
  static override summary = 'print the log of a build';
  static override description =
    "Without --server, the build is one of this machine's builds (lxcts ci builds) and its log file is read. With --server URL, " +
    "the build is the server's (the number on its dashboard, /builds/ID) and its log is read from the server's API, whichever " +
    'machine built it (workers need --live-logs for the server to have logs).\n\n' +
    'With --follow, what is there is printed, then the log as it grows, until the build ends. Exit status with --follow: 0 when ' +
    'the build succeeded, 1 when it ended otherwise (failure, error, cancelled) or could not be read.';
  static override examples = [
    '<%= config.bin %> ci logs 42',
    '<%= config.bin %> ci logs 42 --follow',
    '<%= config.bin %> ci logs 7 --follow --server http://127.0.0.1:8090',
  ];
  static override args = { id: Args.integer({ description: 'build id (see lxcts ci builds, or the dashboard with --server)', required: true, min: 1 }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'keep printing the log until the build ends; exit 0 only if it succeeded' }),
    server: Flags.string({ description: "read the build from the CI server at this URL (e.g. http://127.0.0.1:8090) instead of this machine's builds" }),
  };

  async run(): Promise<{ id: number; status: ServerStatus; log?: string; bytes: number }> {
    // On a terminal, the log's escape sequences other than colours are dropped (terminal-safe.ts); piped, the bytes are the log's.
    const terminal = process.stdout.isTTY ? terminalSafe(process.stdout) : (process.stdout as Writable);
    const out = this.jsonEnabled() ? collector() : { stream: terminal, text: () => undefined };
    const { signal, stop } = abortOn(['SIGINT', 'SIGTERM']);
    try {
      const { status, bytes } = this.flags.server ? await this.fromServer(this.flags.server, out.stream, signal) : await this.fromHere(out.stream, signal);
      if (this.flags.follow && status !== 'success') process.exitCode = 1;
      return { id: this.args.id, status, bytes, ...(this.jsonEnabled() ? { log: out.text() } : {}) };
    } finally {
      stop();
    }
  }

  private async fromServer(server: string, out: Writable, signal: AbortSignal): Promise<{ status: ServerStatus; bytes: number }> {
    let url: URL;
    try {
      url = new URL(server);
      if (!['http:', 'https:'].includes(url.protocol)) throw new Error('not http');
    } catch {
      throw new Errors.CLIError(`--server ${server} is not an http(s) URL`, { exit: 1, code: 'BAD_URL' });
    }
    try {
      const { build, bytes } = await followServerLog({ server: url.href, id: this.args.id, out, follow: this.flags.follow, signal });
      if (this.flags.follow && !this.jsonEnabled()) {
        if (build.log === null && bytes === 0) this.logToStderr(`build ${build.id}: no log on the server (start its worker with --live-logs)`);
        this.logToStderr(`build ${build.id} (${build.repo} ${build.job}): ${build.status}`);
      }
      return { status: build.status, bytes };
    } catch (err) {
      if (err instanceof LogFollowError) throw new Errors.CLIError(err.message, { exit: 1, code: err.code });
      throw err;
    }
  }

  private async fromHere(out: Writable, signal: AbortSignal): Promise<{ status: ServerStatus; bytes: number }> {
    const store = this.store();
    const build = store.get(this.args.id);
    if (!build) throw new Errors.CLIError(`there is no build ${this.args.id}`, { exit: 1, code: 'BUILD_NOT_FOUND' });
    if (this.flags.follow) {
      const { build: final, bytes } = await followLocalLog(store, build.id, out, signal);
      if (!this.jsonEnabled()) this.logToStderr(`build ${final.id} (${final.repo} ${final.job}): ${final.status}`);
      return { status: final.status, bytes };
    }
    if (!build.logPath || !fs.existsSync(build.logPath)) {
      throw new Errors.CLIError(`build ${build.id} has no log (status ${build.status})`, { exit: 1, code: 'LOG_NOT_FOUND' });
    }
    const log = fs.readFileSync(build.logPath);
    out.write(log);
    return { status: build.status, bytes: log.length };
  }
}

/** For --json: the log kept in memory and returned in the result instead of printed. */
function collector(): { stream: Writable; text: () => string } {
  const parts: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      parts.push(chunk);
      done();
    },
  });
  return { stream, text: () => Buffer.concat(parts).toString('utf8') };
}
