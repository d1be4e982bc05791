/**
 * What the patch parser writes to GitHub for a pull request, decided from what it read:
 * pure, so that "the same event twice writes nothing the second time" is a property of
 * this function (it compares with what is there) and not of timing.
 */
import type { BuildFile } from '../ci/build-file';
import { COMMENT_MARKER, renderComment } from './comment';
import { commitsWithoutSignOff, type CommitForDco } from './dco';
import { filesMatch, SIZE_LABEL_PREFIX, wantedLabels, type ChangedFile, type LabelRule } from './labels';

export const DCO_CONTEXT = 'lxcts/dco';

export type PatchParserConfig = BuildFile['patch_parser'] & { labels: LabelRule[] };

/** What GitHub says about the pull request now. */
export interface PullRequestState {
  headSha: string;
  commits: CommitForDco[];
  files: ChangedFile[];
  /** Sizes in bytes at the head of the changed files that still exist (from the head's tree). */
  sizes: Map<string, number>;
  /** The labels on it now. */
  labels: string[];
  /** Comments carrying the bot's marker, oldest first. */
  botComments: Array<{ id: number; body: string }>;
  /** The newest lxcts/dco status on the head commit, if any. */
  dcoStatus: { state: string; description: string } | null;
}

export type Action =
  | { kind: 'status'; sha: string; state: 'success' | 'failure'; description: string }
  | { kind: 'add-labels'; labels: string[] }
  | { kind: 'remove-label'; label: string }
  | { kind: 'create-comment'; body: string }
  | { kind: 'update-comment'; id: number; body: string }
  | { kind: 'delete-comment'; id: number };

/** GitHub cuts status descriptions at 140 characters. */
const MAX_DESCRIPTION = 140;

export function dcoDescription(unsigned: CommitForDco[]): { state: 'success' | 'failure'; description: string } {
  if (unsigned.length === 0) return { state: 'success', description: 'All commits are signed off by their authors' };
  const head = `${unsigned.length} commit${unsigned.length === 1 ? '' : 's'} without the author's Signed-off-by: `;
  let description = head + unsigned.map((c) => c.sha.slice(0, 7)).join(', ');
  if (description.length > MAX_DESCRIPTION) description = `${description.slice(0, MAX_DESCRIPTION - 1)}…`;
  return { state: 'failure', description };
}

export function plan(pr: PullRequestState, config: PatchParserConfig): Action[] {
  const actions: Action[] = [];
  const unsigned = config.dco ? commitsWithoutSignOff(pr.commits) : null;
  if (unsigned) {
    const status = dcoDescription(unsigned);
    if (pr.dcoStatus?.state !== status.state || pr.dcoStatus.description !== status.description) {
      actions.push({ kind: 'status', sha: pr.headSha, ...status });
    }
  }

  // Labels: GitHub compares label names case-insensitively. Rule labels are only added (a
  // maintainer may have put or removed them on purpose); size labels are the bot's own.
  const have = new Set(pr.labels.map((l) => l.toLowerCase()));
  const wanted = wantedLabels(pr.files, config.labels);
  const wantedLower = new Set(wanted.map((l) => l.toLowerCase()));
  for (const label of pr.labels) {
    if (label.toLowerCase().startsWith(SIZE_LABEL_PREFIX) && !wantedLower.has(label.toLowerCase())) actions.push({ kind: 'remove-label', label });
  }
  const missing = wanted.filter((l) => !have.has(l.toLowerCase()));
  if (missing.length > 0) actions.push({ kind: 'add-labels', labels: missing });

  const present = pr.files.filter((f) => f.status !== 'removed');
  const source = filesMatch(present, config.source);
  const tests = filesMatch(pr.files, config.tests);
  const body = renderComment({
    unsigned,
    untestedSource: tests.length === 0 ? source.filter((f) => !filesMatch([f], config.tests).length).map((f) => f.filename) : [],
    testGlobs: config.tests,
    largeFiles: present.flatMap((f) => {
      const size = pr.sizes.get(f.filename);
      return size !== undefined && size > config.max_file_size ? [{ filename: f.filename, size }] : [];
    }),
    maxFileSize: config.max_file_size,
  });
  const [comment, ...duplicates] = pr.botComments;
  if (body === null) {
    for (const c of pr.botComments) actions.push({ kind: 'delete-comment', id: c.id });
  } else {
    if (!comment) actions.push({ kind: 'create-comment', body });
    else if (comment.body !== body) actions.push({ kind: 'update-comment', id: comment.id, body });
    // Two deliveries racing may each have posted one: the oldest stays.
    for (const c of duplicates) actions.push({ kind: 'delete-comment', id: c.id });
  }
  return actions;
}

/** Whether a comment is the bot's: the marker opens it (quoting it in a reply does not count). */
export function isBotComment(body: string): boolean {
  return body.startsWith(COMMENT_MARKER);
}
