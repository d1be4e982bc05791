import { Flags } from '@oclif/core';

import { fullNameProblem } from '../../ci/names';
import { applyRetention, describeRemovals, RetentionReport } from '../../ci/retention';
import { CiCommand } from '../../cli/ci-command';
import { retentionFlags } from '../../cli/service-flags';

export default class CiGc extends CiCommand<typeof CiGc> {
  static override summary = 'remove old binaries and docs versions and old build logs (the retention policy)';
  static override description =
    'Kept: what a branch pointer names, the newest --keep-versions versions of each branch (builds of no branch, such as tags ' +
    'and pull requests, count as one branch), anything younger than --expire-days, and anything of a build still running. ' +
    'Logs go when older than --expire-days unless their build is the newest of its ref and job. Each repository is swept ' +
    'holding the lock its publishers take. Workers run this after publishing (ci worker --keep-versions, --expire-days).';
  static override examples = ['<%= config.bin %> ci gc --dry-run', '<%= config.bin %> ci gc --keep-versions 3 --expire-days 14 --repo octo/hello'];
  static override flags = {
    ...retentionFlags,
    'dry-run': Flags.boolean({ description: 'list what would be removed; remove nothing', default: false }),
    repo: Flags.string({ description: 'only this repository, owner/name (repeatable)', multiple: true }),
  };

  async run(): Promise<RetentionReport> {
    const f = this.flags;
    for (const repo of f.repo ?? []) {
      const problem = fullNameProblem(repo);
      if (problem) this.error(`--repo: ${problem}`, { exit: 2 });
    }
    const report = await applyRetention({
      data: this.dataDir(),
      store: this.store(),
      policy: { keep: f['keep-versions'], days: f['expire-days'] },
      repos: f.repo,
      dryRun: f['dry-run'],
    });
    const verb = report.dryRun ? 'would remove' : 'removed';
    for (const removal of report.removed) this.log(`${verb} ${removal.path} (${removal.why})`);
    for (const problem of report.problems) this.logToStderr(`could not remove ${problem}`);
    this.log(report.removed.length === 0 ? `nothing to remove; ${report.kept} kept` : `${verb} ${describeRemovals(report.removed)}; ${report.kept} kept`);
    if (report.problems.length > 0) process.exitCode = 1;
    return report;
  }
}
