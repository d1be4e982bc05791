import { Flags } from '@oclif/core';

import { BUILD_STATUSES } from '../../ci/build-status';
import { MAX_PERSON, MAX_SUBJECT, oneLine, refLabel } from '../../ci/commit-info';
import { BuildRecord } from '../../ci/store';
import { CiCommand } from '../../cli/ci-command';
import { renderTable } from '../../cli/format';

function duration(b: BuildRecord): string {
  if (!b.startedAt) return '-';
  const end = b.finishedAt ? Date.parse(b.finishedAt) : Date.now();
  return `${((end - Date.parse(b.startedAt)) / 1000).toFixed(1)} s`;
}

export default class CiBuilds extends CiCommand<typeof CiBuilds> {
  static override summary = 'list builds, newest first';
  static override examples = ['<%= config.bin %> ci builds', '<%= config.bin %> ci builds --repo local/hello --json'];
  static override flags = {
    repo: Flags.string({ description: 'only this repository (owner/name)' }),
    status: Flags.option({ description: 'only builds with this status', options: BUILD_STATUSES })(),
    limit: Flags.integer({ description: 'at most this many', default: 50, min: 1 }),
  };

  async run(): Promise<BuildRecord[]> {
    const builds = this.store().list({ repo: this.flags.repo, status: this.flags.status, limit: this.flags.limit });
    this.log(
      renderTable(
        ['ID', 'REPO', 'COMMIT', 'REF', 'JOB', 'STATUS', 'DURATION', 'SUBJECT', 'AUTHOR', 'PUSHER', 'MESSAGE'],
        builds.map((b) => [
          String(b.id),
          b.repo,
          b.commit.slice(0, 12),
          // "tag v1.0" and "branch main" of the same commit are told apart; a pull request's
          // merge names the head it merged (the commit GitHub shows on the pull request).
          b.head && b.head !== b.commit ? `${refLabel(b.ref)}, head ${b.head.slice(0, 12)}` : refLabel(b.ref),
          b.job,
          b.status,
          duration(b),
          // Recorded as one printable line already; a terminal gets nothing else, whatever wrote the file.
          oneLine(b.subject ?? '', MAX_SUBJECT),
          oneLine(b.author ?? '', MAX_PERSON),
          oneLine(b.pusher ?? '', MAX_PERSON),
          b.message ?? '',
        ]),
      ),
    );
    return builds;
  }
}
