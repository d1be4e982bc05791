/** Snapshot comments: the text given to snapshot(), and read back for snapshots(). */
import { readFile } from 'node:fs/promises';

import { expectOptionalStringWithoutNul } from './validate';

const MAX_COMMENT_BYTES = 64 * 1024;

/** The comment's text, or null for none. The addon hands it to liblxc as an anonymous file. */
export function checkComment(value: unknown): string | null {
  const comment = expectOptionalStringWithoutNul(value, 'the snapshot comment');
  if (comment === undefined) return null;
  if (Buffer.byteLength(comment) > MAX_COMMENT_BYTES) {
    throw new TypeError(`Expected a snapshot comment of at most ${MAX_COMMENT_BYTES} bytes but received ${Buffer.byteLength(comment)}`);
  }
  return comment;
}

/** The snapshot list with each comment file's text; one that is gone (or unreadable) counts as no comment. */
export function withComments<T extends { commentPath: string }>(list: T[]): Promise<Array<T & { comment: string | null }>> {
  return Promise.all(
    list.map(async (snapshot) => ({
      ...snapshot,
      comment: snapshot.commentPath === '' ? null : await readFile(snapshot.commentPath, 'utf8').catch(() => null),
    })),
  );
}
