/**
 * The bot's one comment on a pull request: what is missing before it can be merged. It is
 * found again by a hidden marker, so that it is edited in place rather than posted anew.
 * Everything in it that comes from the pull request (commit ids, file names) is rendered
 * so that it cannot become markup, a mention or a link.
 */
import type { CommitForDco } from './dco';

export const COMMENT_MARKER = '<!-- lxcts-patch-parser -->';

/** Items listed per problem: GitHub refuses comments over 65536 characters. */
const MAX_LISTED = 20;

export interface Findings {
  /** Commits without their author's sign-off (null: the check is off). */
  unsigned: CommitForDco[] | null;
  /** Source files changed while no test file was (empty: nothing to say). */
  untestedSource: string[];
  testGlobs: string[];
  /** Changed files over the size limit, with their size in bytes. */
  largeFiles: Array<{ filename: string; size: number }>;
  maxFileSize: number;
}

/** A code span that holds any text: a fence of more backticks than the text's longest run. */
export function inlineCode(text: string): string {
  // Newlines would end the list item; control characters have no business in a comment.
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\x00-\x1f\x7f]/g, ' ');
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') || longest > 0 ? ' ' : '';
  return `${fence}${pad}${flat}${pad}${fence}`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function listed<T>(items: T[], show: (item: T) => string): string {
  const shown = items.slice(0, MAX_LISTED).map(show).join(', ');
  return items.length > MAX_LISTED ? `${shown} and ${items.length - MAX_LISTED} more` : shown;
}

/** The comment's body, or null when nothing is missing (then the comment goes). */
export function renderComment(f: Findings): string | null {
  const items: string[] = [];
  if (f.unsigned && f.unsigned.length > 0) {
    const n = f.unsigned.length;
    items.push(
      `- **Sign-off missing** on ${n === 1 ? '1 commit' : `${n} commits`}: ${listed(f.unsigned, (c) => c.sha.slice(0, 12))}. ` +
        'Each commit needs a `Signed-off-by: Name <email>` line with the name and email of its author, ' +
        'certifying the [Developer Certificate of Origin](https://developercertificate.org/): ' +
        '`git commit --amend --signoff` for the last commit, `git rebase --signoff <base>` for several, then force-push.',
    );
  }
  if (f.untestedSource.length > 0) {
    items.push(`- **No test changed**: this changes source (${listed(f.untestedSource, inlineCode)}) but no file matching ${listed(f.testGlobs, inlineCode)}.`);
  }
  if (f.largeFiles.length > 0) {
    items.push(
      `- **Large file${f.largeFiles.length === 1 ? '' : 's'}** over ${formatBytes(f.maxFileSize)}: ` +
        `${listed(f.largeFiles, (l) => `${inlineCode(l.filename)} (${formatBytes(l.size)})`)}.`,
    );
  }
  if (items.length === 0) return null;
  return `${COMMENT_MARKER}\nThanks for the pull request. Before it can be merged:\n\n${items.join('\n')}\n\n<sub>This comment is kept up to date by lxcts's patch parser and goes away once all is well.</sub>\n`;
}
