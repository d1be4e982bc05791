/**
 * Branch names as one path component, reversibly: two branches never share a pointer
 * (`feature/x` → `feature%2Fx`, `feature-x` stays `feature-x`).
 *
 * Kept as they are: ASCII letters, digits, `_`, `-` and `.` (except a leading one).
 * Everything else, `%` included, is percent-encoded from its UTF-8 bytes, as in a URL.
 * A name that looks like a full commit id (40 or 64 hex digits) gets its first character
 * encoded too, so it can never be mistaken for (or overwrite) a commit's `<sha>` entry.
 * No encoded name starts with `.`: the publisher's own files (`.versions`, pointer
 * records, temporary names) all do. A branch named `pull` gets its first character encoded:
 * `pull/` holds the pull requests' artifacts (pull-request.ts).
 */
import { UserFailure } from './errors';

/** Room for the pointer record's `.` prefix and `.pointer` suffix within NAME_MAX (255). */
export const MAX_POINTER_NAME = 240;

const KEPT = /[A-Za-z0-9_.-]/;
const COMMIT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** Names of the publisher's own directories beside the pointers. */
const RESERVED = new Set(['pull']);

function percent(char: string): string {
  return [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

export function encodePointerName(branch: string): string {
  if (branch.length === 0) throw new UserFailure('an empty branch name has no pointer');
  const chars = [...branch];
  const encoded = chars
    .map((char, i) => {
      const keep = KEPT.test(char) && !(i === 0 && char === '.') && !(i === 0 && (COMMIT_ID.test(branch) || RESERVED.has(branch)));
      return keep ? char : percent(char);
    })
    .join('');
  if (Buffer.byteLength(encoded) > MAX_POINTER_NAME) {
    throw new UserFailure(`the branch name "${branch.slice(0, 60)}…" is too long for a published pointer (${MAX_POINTER_NAME} bytes once encoded)`);
  }
  return encoded;
}

/** The inverse of encodePointerName; throws on a name it could not have produced. */
export function decodePointerName(name: string): string {
  if (!/^(?:[A-Za-z0-9_.-]|%[0-9A-F]{2})+$/.test(name) || name.startsWith('.')) throw new Error(`not a pointer name: ${JSON.stringify(name)}`);
  const bytes = Buffer.from(
    name.replace(/%([0-9A-F]{2})|./g, (m, hex: string | undefined) => (hex ? String.fromCharCode(parseInt(hex, 16)) : m)),
    'latin1',
  );
  let branch: string;
  try {
    branch = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`not a pointer name: ${JSON.stringify(name)}`);
  }
  if (encodePointerName(branch) !== name) throw new Error(`not a pointer name: ${JSON.stringify(name)}`);
  return branch;
}
