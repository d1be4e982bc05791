/**
 * The Developer Certificate of Origin check: every commit of a pull request carries a
 * `Signed-off-by:` trailer naming its author. Trailers are found the way
 * `git interpret-trailers` finds them (git's trailer.c), so that what git shows as a
 * sign-off is what the bot accepts, and a "Signed-off-by:" quoted in the middle of a
 * message is not one.
 */

export interface Trailer {
  /** As written (`Signed-off-by`); compared case-insensitively, as git does. */
  token: string;
  value: string;
}

/** A token, optional spaces, then the separator: git's find_separator with the default `:`. */
const TRAILER_LINE = /^([A-Za-z0-9-]+)\s*:(.*)$/;
/** Prefixes git itself writes: one of them lets a block with other lines count as trailers. */
const GIT_GENERATED = ['Signed-off-by: ', '(cherry picked from commit '];

const blank = (line: string) => line.trim() === '';

/**
 * The trailers of a commit message, in order. As git: the message ends at a `---` line
 * (the start of a patch), the first paragraph is the title and never trailers, and the last
 * paragraph is the trailer block when all its lines are trailers, or when it holds a
 * git-generated one and at least a quarter of its lines are trailers. Lines starting with
 * whitespace continue the trailer above them; `#` lines are comments.
 */
export function parseTrailers(message: string): Trailer[] {
  let lines = message.replace(/\r\n/g, '\n').split('\n');
  const divider = lines.findIndex((line) => /^---(\s|$)/.test(line));
  if (divider !== -1) lines = lines.slice(0, divider);
  while (lines.length > 0 && (blank(lines.at(-1)!) || lines.at(-1)!.startsWith('#'))) lines.pop();
  const titleEnd = lines.findIndex(blank);
  if (titleEnd === -1) return [];
  let start = lines.length;
  let trailerLines = 0;
  let nonTrailerLines = 0;
  let continuation = 0;
  let recognized = false;
  for (let i = lines.length - 1; i > titleEnd; i--) {
    const line = lines[i]!;
    if (line.startsWith('#')) continue;
    if (blank(line)) break;
    start = i;
    if (/^\s/.test(line)) {
      continuation++;
      continue;
    }
    if (GIT_GENERATED.some((prefix) => line.startsWith(prefix))) {
      trailerLines++;
      continuation = 0;
      recognized = true;
    } else if (TRAILER_LINE.test(line)) {
      trailerLines++;
      continuation = 0;
    } else {
      nonTrailerLines += 1 + continuation;
      continuation = 0;
    }
  }
  const isBlock = (trailerLines > 0 && nonTrailerLines === 0) || (recognized && trailerLines * 3 >= nonTrailerLines);
  if (!isBlock) return [];
  const trailers: Trailer[] = [];
  for (const line of lines.slice(start)) {
    if (line.startsWith('#')) continue;
    const last = trailers.at(-1);
    if (/^\s/.test(line) && last) {
      last.value = `${last.value} ${line.trim()}`.trim();
      continue;
    }
    const match = TRAILER_LINE.exec(line);
    if (match) trailers.push({ token: match[1]!, value: match[2]!.trim() });
  }
  return trailers;
}

export interface CommitForDco {
  sha: string;
  message: string;
  author: { name: string; email: string };
  /** Merge commits are not checked (they carry no change of their own), as GitHub's DCO app does. */
  parents: number;
}

/** `Name <email>` as in a sign-off: null when it is not that shape. */
export function parsePerson(value: string): { name: string; email: string } | null {
  const match = /^(.*?)\s*<([^<>\s]+)>$/.exec(value.trim());
  return match ? { name: match[1]!.trim(), email: match[2]! } : null;
}

/**
 * Whether the message has a sign-off by its author: same name (exactly, trimmed) and same
 * email (case-insensitively: mail hosts are, and GitHub lower-cases them in places).
 */
export function signedOffByAuthor(commit: CommitForDco): boolean {
  return parseTrailers(commit.message).some((t) => {
    if (t.token.toLowerCase() !== 'signed-off-by') return false;
    const person = parsePerson(t.value);
    return person !== null && person.name === commit.author.name.trim() && person.email.toLowerCase() === commit.author.email.trim().toLowerCase();
  });
}

/** The commits that lack their author's sign-off, in the pull request's order. */
export function commitsWithoutSignOff(commits: CommitForDco[]): CommitForDco[] {
  return commits.filter((c) => c.parents < 2 && !signedOffByAuthor(c));
}
