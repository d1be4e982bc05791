/**
 * Input checks that run before anything reaches the addon, with messages in sharp's style:
 * what was expected, and what was received.
 */
import * as path from 'node:path';

import { LxcError } from './errors';

/** Container names become directory names and, with most templates, the hostname (64 bytes). */
export const MAX_NAME_BYTES = 64;

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `"${value}" of type string`;
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${String(value)} of type ${typeof value}`;
}

export function expectString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new TypeError(`Expected a string for ${what} but received ${describe(value)}`);
  return value;
}

export function expectOptionalString(value: unknown, what: string): string | undefined {
  return value === undefined ? undefined : expectString(value, what);
}

export function expectStringArray(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new TypeError(`Expected an array of strings for ${what} but received ${describe(value)}`);
  }
  return [...value];
}

export function expectBoolean(value: unknown, what: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`Expected a boolean for ${what} but received ${describe(value)}`);
  return value;
}

const MAX_LXC_SECONDS = 2 ** 31 - 1;

/**
 * A timeout in seconds: a non-negative number, or Infinity for "no limit". liblxc counts
 * whole seconds, so fractions round up; no limit becomes liblxc's -1.
 */
export function timeoutSeconds(value: unknown, what: string, fallback: number): number {
  if (value === undefined) value = fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new TypeError(`Expected a non-negative number of seconds for ${what} but received ${describe(value)}`);
  }
  // Beyond what liblxc's int can hold, a limit is no limit.
  return value > MAX_LXC_SECONDS ? -1 : Math.ceil(value);
}

export function expectOptions<T extends object>(value: unknown, what: string): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`Expected an options object for ${what} but received ${describe(value)}`);
  }
  return value as Partial<T>;
}

export function checkName(name: unknown): string {
  expectString(name, 'the container name');
  const n = name as string;
  let problem: string | undefined;
  if (n.length === 0) problem = 'it is empty';
  else if (n === '.' || n === '..') problem = `"${n}" is not a directory name`;
  else if (n.includes('/')) problem = 'it contains "/"';
  else if (/[\x00-\x1f\x7f]/.test(n)) problem = 'it contains a control character';
  else if (n.startsWith('-')) problem = 'it starts with "-"';
  else if (Buffer.byteLength(n) > MAX_NAME_BYTES) problem = `it is longer than ${MAX_NAME_BYTES} bytes`;
  if (problem) {
    throw new LxcError(`invalid container name ${JSON.stringify(n)}: ${problem}`, {
      code: 'LXC_INVALID_NAME',
      op: 'new',
      container: n,
    });
  }
  return n;
}

/** lxcpaths are made absolute: liblxc's monitor changes directory to "/". */
export function checkLxcpath(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const p = expectString(value, 'lxcpath');
  if (p.length === 0 || p.includes('\0')) throw new TypeError('Expected a directory path for lxcpath but received an empty string');
  return path.resolve(p);
}

/** Config keys and values are written to the config file one per line: a newline would add a line of its own. */
export function checkConfigText(value: unknown, what: 'key' | 'value', op: string, container: string): string {
  const text = expectString(value, `the config ${what}`);
  if (/[\n\r\0]/.test(text) || (what === 'key' && text.length === 0)) {
    throw new LxcError(`invalid config ${what} ${JSON.stringify(text)}`, {
      code: what === 'key' ? 'LXC_INVALID_CONFIG_KEY' : 'LXC_INVALID_CONFIG_VALUE',
      op,
      container,
    });
  }
  return text;
}
