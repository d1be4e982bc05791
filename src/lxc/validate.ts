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
  if (value instanceof Map) return 'a Map';
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

/**
 * Holes and non-strings are refused by index: `every()` skips holes, which then reached the
 * addon as undefined. NUL bytes would silently cut a string where C reads it.
 */
export function expectStringArray(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TypeError(`Expected an array of strings for ${what} but received ${describe(value)}`);
  const out: string[] = [];
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    if (typeof item !== 'string') {
      throw new TypeError(`Expected an array of strings for ${what} but received ${describe(item)} at index ${i}`);
    }
    out.push(withoutNul(item, `${what}[${i}]`));
  }
  return out;
}

/** C reads a string up to its first NUL: the rest would be dropped without a word. */
export function withoutNul(value: string, what: string): string {
  if (value.includes('\0')) throw new TypeError(`Expected ${what} without NUL characters but received ${JSON.stringify(value)}`);
  return value;
}

export function expectStringWithoutNul(value: unknown, what: string): string {
  return withoutNul(expectString(value, what), what);
}

export function expectOptionalStringWithoutNul(value: unknown, what: string): string | undefined {
  return value === undefined ? undefined : expectStringWithoutNul(value, what);
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
  // A Map, Set or Date has no own enumerable keys: read as options, it would be ignored.
  if (value === null || typeof value !== 'object' || Object.prototype.toString.call(value) !== '[object Object]') {
    throw new TypeError(`Expected an options object for ${what} but received ${describe(value)}`);
  }
  return value;
}

/**
 * Container (and snapshot) names: ASCII letters, digits, ".", "_", "-" and "+", not "." or
 * "..", not starting with "-", at most 64 bytes. The name becomes a directory, the hostname,
 * a cgroup and part of the rootfs path that templates expand unquoted (the busybox template
 * word-splits and globs it), so nothing a shell or liblxc's config and mount-option syntax
 * would read specially gets in: no whitespace, quotes, "$", glob characters, ":" or ",".
 */
const NAME_CHARS = /^[A-Za-z0-9._+-]*$/;

export function checkName(name: unknown, what: 'container' | 'snapshot' = 'container', op = 'new'): string {
  expectString(name, `the ${what} name`);
  const n = name as string;
  let problem: string | undefined;
  if (n.length === 0) problem = 'it is empty';
  else if (n === '.' || n === '..') problem = `"${n}" is not a directory name`;
  else if (n.includes('/')) problem = 'it contains "/"';
  // eslint-disable-next-line no-control-regex -- control characters are what it looks for
  else if (/[\x00-\x1f\x7f]/.test(n)) problem = 'it contains a control character';
  else if (n.startsWith('-')) problem = 'it starts with "-"';
  else if (Buffer.byteLength(n) > MAX_NAME_BYTES) problem = `it is longer than ${MAX_NAME_BYTES} bytes`;
  else if (!NAME_CHARS.test(n)) {
    const bad = [...n].find((ch) => !NAME_CHARS.test(ch))!;
    problem = `it contains ${JSON.stringify(bad)} (names are ASCII letters, digits, ".", "_", "-" and "+")`;
  }
  if (problem) {
    throw new LxcError(`invalid ${what} name ${JSON.stringify(n)}: ${problem}`, {
      code: 'LXC_INVALID_NAME',
      op,
      container: what === 'container' ? n : null,
    });
  }
  return n;
}

/**
 * Characters an lxcpath may not hold. liblxc writes it into the container's config
 * (lxc.rootfs.path = dir:LXCPATH/NAME/rootfs), one key per line with no quoting, so a
 * newline there adds config lines of the caller's choosing (a hook runs as root) and a
 * NUL cuts the path; templates expand it unquoted (whitespace splits it, * ? [ glob);
 * ":" separates the parts of an overlay rootfs path and "," the options of its mount.
 */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const LXCPATH_FORBIDDEN = /[\x00-\x20\x7f"'\\$`*?[\]:,;&|<>(){}#]/;

/** lxcpaths are made absolute and normalised: liblxc's monitor changes directory to "/". */
export function checkLxcpath(value: unknown): string | undefined {
  return value === undefined ? undefined : checkConfigPath(value, 'lxcpath', 'an lxcpath');
}

/**
 * A host path that liblxc writes into a config file or a template expands (an lxcpath, a
 * rootfs directory): made absolute, with none of the characters LXCPATH_FORBIDDEN lists.
 */
export function checkConfigPath(value: unknown, what: string, article: string): string {
  const p = expectString(value, what);
  if (p.length === 0) throw new TypeError(`Expected a directory path for ${what} but received an empty string`);
  // Checked after resolving: a relative path takes the characters of the working directory.
  const absolute = path.resolve(p);
  const bad = LXCPATH_FORBIDDEN.exec(p) ?? LXCPATH_FORBIDDEN.exec(absolute);
  if (bad) {
    throw new TypeError(
      `Expected ${article} without whitespace, control characters or ${JSON.stringify(bad[0])} but received ${JSON.stringify(p)}` +
        ' (liblxc writes it into config files and templates expand it unquoted)',
    );
  }
  return absolute;
}

/**
 * Template arguments reach the template's argv as they are, but templates expand their
 * options unquoted (the busybox template's --rootfs, the download template's many): an
 * argument with whitespace is split into several paths, and * ? [ are globbed.
 */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const TEMPLATE_ARG_FORBIDDEN = /[\x00-\x20\x7f*?[]/;

/**
 * Options liblxc itself passes to every template (where the container lives, its name,
 * its id maps). Given again by the caller, they would win (getopt keeps the last), and
 * the template would write a rootfs or config anywhere on the host. getopt also accepts
 * any unambiguous abbreviation of a long option ("--root" is "--rootfs").
 */
const LIBLXC_TEMPLATE_OPTIONS = ['path', 'rootfs', 'name', 'mapped-uid', 'mapped-gid'];

function redefinesLiblxcOption(arg: string): string | undefined {
  if (!arg.startsWith('--') || arg.length < 3) return undefined;
  const option = arg.slice(2).split('=')[0] ?? '';
  return LIBLXC_TEMPLATE_OPTIONS.find((reserved) => option.length > 0 && reserved.startsWith(option));
}

export function checkTemplateArgs(value: unknown): string[] {
  const args = expectStringArray(value, 'template args');
  args.forEach((arg, i) => {
    const reserved = redefinesLiblxcOption(arg);
    if (reserved) {
      throw new TypeError(
        `Expected template args without --${reserved} but received ${JSON.stringify(arg)} at index ${i}` +
          ' (liblxc passes --path, --rootfs, --name and the id maps to the template itself)',
      );
    }
    const bad = TEMPLATE_ARG_FORBIDDEN.exec(arg);
    if (bad) {
      throw new TypeError(
        `Expected template args without whitespace, control characters or glob characters but received ${JSON.stringify(arg)} at index ${i}` +
          ' (templates expand their arguments unquoted, so it would be split or globbed)',
      );
    }
  });
  return args;
}

/** A config file to read: any path without NUL, made absolute here (liblxc may change directory). */
export function checkConfigFile(value: unknown): string {
  const file = expectStringWithoutNul(value, 'the config file path');
  if (file.length === 0) throw new TypeError('Expected a config file path but received an empty string');
  return path.resolve(file);
}

/**
 * liblxc runs hook scripts through `sh -c "SCRIPT NAME lxc HOOK ARG..."` with the arguments
 * unquoted (run_script_argv in conf.c): anything the shell reads specially would split an
 * argument or run a command as root. Only characters it passes through as they are.
 */
const HOOK_ARG = /^[A-Za-z0-9_.,:/=@%+-]+$/;

export function checkHookArgs(value: unknown): string[] {
  const args = expectStringArray(value, 'hookArgs');
  args.forEach((arg, i) => {
    if (!HOOK_ARG.test(arg)) {
      throw new TypeError(
        `Expected hookArgs of letters, digits and _ . , : / = @ % + - but received ${JSON.stringify(arg)} at index ${i}` +
          ' (liblxc passes them to the hook through a shell, unquoted)',
      );
    }
  });
  return args;
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
