/**
 * The tokens the server takes (the worker token workers on other machines upload with; the
 * admin and read tokens of control.ts). A token is read from a file (never a flag: argv is
 * visible to every user of the machine) and compared in constant time: SHA-256 digests of
 * both sides, so neither the bytes nor the length of the token leak through how long a
 * refusal takes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';

/** Shorter tokens are refused: guessable. */
export const MIN_TOKEN_LENGTH = 16;

/** The token in `file`: one word of at least MIN_TOKEN_LENGTH characters; `what` names it in the refusal. */
export function readToken(file: string, what: string): string {
  const token = fs.readFileSync(file, 'utf8').trim();
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new Error(`the ${what} in ${file} must be one word of at least ${MIN_TOKEN_LENGTH} characters`);
  }
  return token;
}

export function readWorkerToken(file: string): string {
  return readToken(file, 'worker token');
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Whether `given` is `token`, in constant time (an empty `given` never is). */
export function tokenEquals(given: string, token: string): boolean {
  // Compared even when empty, so that a missing token takes as long as a wrong one.
  return timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}

/** The token of an `Authorization: Bearer TOKEN` header ('' when there is none). */
export function bearerOf(header: string | undefined): string {
  return /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1] ?? '';
}

/** Whether an `Authorization` header carries `token` as a Bearer token. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  return tokenEquals(bearerOf(header), token);
}
