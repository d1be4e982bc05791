/**
 * Reading a file that holds a key: the secrets' key (secrets.ts) and the NSQ message key
 * (message-seal.ts). A key others may read is no key, so such a file is refused, as is one
 * that is a link, not a regular file, or another user's (who could have written any key).
 */
import * as fs from 'node:fs';

export type PrivateFileProblem = 'missing' | 'unreadable' | 'not-a-file' | 'readable-by-others' | 'not-ours';

export class PrivateFileError extends Error {
  constructor(
    message: string,
    readonly problem: PrivateFileProblem,
  ) {
    super(message);
  }
}

/** The bytes of `file` (`what` names it in the refusal: "secret key", "message key"). */
export function readPrivateFile(file: string, what: string): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO put there would block the open (and start-up) until a writer came;
    // opened at once, it is refused below as not a regular file.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PrivateFileError(`cannot open the ${what} ${file}: ${(err as Error).message}`, code === 'ENOENT' ? 'missing' : 'unreadable');
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new PrivateFileError(`the ${what} ${file} is not a regular file`, 'not-a-file');
    if ((stat.mode & 0o077) !== 0)
      throw new PrivateFileError(`the ${what} ${file} has mode ${(stat.mode & 0o777).toString(8)}: others may read it; chmod 600 it`, 'readable-by-others');
    if (process.getuid && stat.uid !== process.getuid())
      throw new PrivateFileError(`the ${what} ${file} belongs to uid ${stat.uid}, not to this user`, 'not-ours');
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
