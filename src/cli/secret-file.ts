/** The shared webhook secret, read from the file an operator names (`--secret-file`). */
import * as fs from 'node:fs';

import { Errors } from '@oclif/core';

/**
 * The file's content without surrounding whitespace (a trailing newline is no part of the
 * secret). A missing or blank file is refused: a receiver or hook without a secret would
 * accept or send unsigned events.
 */
export function readSecretFile(file: string): string {
  const secret = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
  if (!secret) throw new Errors.CLIError(`the secret file ${file} is missing or empty`, { exit: 1, code: 'NO_SECRET' });
  return secret;
}
