import * as os from 'node:os';

import { Errors, Flags } from '@oclif/core';

import { FlushReport, HookSpool, RETRY_FIRST_MS, RETRY_FOR_MS, RETRY_MAX_MS } from '../../../ci/hook-spool';
import { adoptUnsent } from '../../../ci/post-receive';
import { bareRepository, bareRepositoryArg } from '../../../cli/bare-repository';
import { CiCommand } from '../../../cli/ci-command';

export default class CiHookFlush extends CiCommand<typeof CiHookFlush> {
  static override summary = "send the push events a bare repository's hook could not deliver yet, oldest first";
  static override description =
    'The hook spools every push in <repo>/lxcts/spool/ until the receiver answered 2xx; this sends what is still there. ' +
    'The receiver de-duplicates by delivery id, so an event is built once however often it is sent. Events the receiver ' +
    'refuses for good (400, 413...) are moved to <repo>/lxcts/rejected/ with the answer. Exits 1 while events remain. ' +
    `--retry keeps trying (after ${RETRY_FIRST_MS / 1000} s, doubling up to ${RETRY_MAX_MS / 60_000} min) until the spool is empty or --retry-for has passed; ` +
    'the hook starts it detached when a push could not be sent.';
  static override examples = ['<%= config.bin %> ci hook flush /srv/git/hello.git'];
  static override args = { repo: bareRepositoryArg };
  static override flags = {
    retry: Flags.boolean({ description: 'keep retrying with backoff instead of trying once' }),
    'retry-for': Flags.integer({ description: 'seconds --retry keeps trying', default: RETRY_FOR_MS / 1000, min: 1 }),
  };

  async run(): Promise<FlushReport> {
    const repo = bareRepository(this.args.repo);
    const spool = new HookSpool(repo);
    adoptUnsent(spool, os.userInfo().username);
    if (this.flags.retry) {
      const total: FlushReport = { delivered: 0, pending: 0, rejected: 0, error: null, lines: [] };
      const ran = await spool.retry(this.flags['retry-for'] * 1000, (r) => {
        for (const line of r.lines) this.log(line);
        total.delivered += r.delivered;
        total.rejected += r.rejected;
        total.error = r.error;
      });
      if (!ran) this.log(`another process is already retrying ${repo}`);
      total.pending = spool.pending().length;
      if (total.pending > 0) process.exitCode = 1;
      return total;
    }
    const report = await spool.flush();
    if (!report) throw new Errors.CLIError(`another delivery of ${repo} is in progress; try again`, { exit: 1, code: 'HOOK_BUSY' });
    for (const line of report.lines) this.log(line);
    this.log(
      `${report.delivered} delivered, ${report.pending} still spooled${report.rejected ? `, ${report.rejected} refused (see ${spool.rejectedDir})` : ''}`,
    );
    if (report.pending > 0) {
      this.logToStderr(`not delivered: ${report.error ?? 'unknown reason'}`);
      process.exitCode = 1;
    }
    return report;
  }
}
