/**
 * What a build shows about where it came from: its commit's subject and author, who pushed
 * it, and which ref triggered it ("branch main", "tag v1.0", "pull request 12").
 *
 * Subjects, author names and pusher names are written by whoever pushed: they are made one
 * printable line of bounded length before they are stored or published (control characters,
 * which could move a terminal's cursor or fake a line in `ci builds`, and the bidirectional
 * overrides that make text read differently from what it is, become spaces), and the server
 * checks the same bounds again on arrival (event-wire.ts). HTML escaping is the pages' job.
 */

/** Longest commit subject kept (GitHub shows about as much in a list). */
export const MAX_SUBJECT = 200;
/** Longest author or pusher name kept. */
export const MAX_PERSON = 100;

// C0 and C1 controls, DEL, the line and paragraph separators, the bidirectional embeddings,
// overrides and isolates, and the zero-width characters that hide in names.
// eslint-disable-next-line no-control-regex
const HIDDEN = /[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

/** `text` as one printable line of at most `max` characters (code points; '…' marks a cut). */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(HIDDEN, ' ').replace(/ {2,}/g, ' ').trim();
  const points = [...flat];
  return points.length <= max ? flat : `${points.slice(0, max - 1).join('')}…`;
}

/** Whether `text` is already what `oneLine(text, max)` makes of it (the server's check). */
export function isOneLine(text: string, max: number): boolean {
  return oneLine(text, max) === text;
}

/** A commit's subject and author as a build records them. */
export interface CommitInfo {
  subject: string;
  author: string;
}

/**
 * The ref that triggered a build, as people say it: `branch main`, `tag v1.0`,
 * `pull request 12`, another full ref as it is, or `commit` when a build was asked for by id.
 */
export function refLabel(ref: string | null): string {
  if (ref === null) return 'commit';
  if (ref.startsWith('refs/heads/')) return `branch ${ref.slice('refs/heads/'.length)}`;
  if (ref.startsWith('refs/tags/')) return `tag ${ref.slice('refs/tags/'.length)}`;
  // What a pull request's build built: GitHub's merge into the base, or the head alone.
  const pull = /^refs\/pull\/(\d+)\/(head|merge)$/.exec(ref);
  if (pull) return `${pull[2] as string} of #${pull[1] as string}`;
  return ref;
}
