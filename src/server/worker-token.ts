/**
 * The token workers on other machines present to upload what they built. It is read from
 * a file (never a flag: argv is visible to every user of the machine) and compared in
 * constant time: SHA-256 digests of both sides, so neither the bytes nor the length of
 * the token leak through how long a refusal takes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';

/** Shorter tokens are refused: guessable. */
export const MIN_TOKEN_LENGTH = 16;

export function readWorkerToken(file: string): string {
  const token = fs.readFileSync(file, 'utf8').trim();
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new Error(`the worker token in ${file} must be one word of at least ${MIN_TOKEN_LENGTH} characters`);
  }
  return token;
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Whether an `Authorization` header carries `token` as a Bearer token. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1] ?? '';
  // Compared even when absent, so that a missing token takes as long as a wrong one.
  return timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}
