/**
 * Table-driven fuzz of the binding's inputs with a fixed seed (issue 13): names, lxcpaths,
 * config keys and values, argv, env, cwd, uid/gid and timeouts, against a real running
 * container. Each case is checked against a reference rule: a bad input is refused with a
 * TypeError or the stated LxcError code, a good one does exactly what was asked (the
 * strings arrive whole, nothing runs elsewhere). No case may crash or hang the process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Container, listContainers } from '../src';
import { failureOf, Sandbox } from './helpers/sandbox';
import { at } from './helpers/must';
import { seeded } from './helpers/random';

const SEED = 0x13ab05e;

const next = seeded(SEED);
const int = (n: number) => Math.floor(next() * n);
const pick = <T>(items: readonly T[]): T => at(items, int(items.length));

/** Pieces a careless or hostile caller puts in strings. */
const PIECES = [
  'a',
  'Z',
  '9',
  'web',
  '.',
  '..',
  '_',
  '-',
  '+',
  '/',
  ' ',
  '\t',
  '\n',
  '\r',
  '\0',
  '\x7f',
  '\x1b',
  '$(touch /tmp/x)',
  '`id`',
  '$HOME',
  '*',
  '?',
  '[a]',
  '"',
  "'",
  '\\',
  ':',
  ',',
  ';',
  '&',
  '|',
  '#',
  '=',
  '%s',
  '~',
  'é',
  '😀',
  '\u2028',
  '\u00a0',
  'lxc.hook.pre-start = /bin/true',
  'x'.repeat(70),
  'y'.repeat(300),
] as const;

function fuzz(maxPieces = 4): string {
  let s = '';
  for (let n = 1 + int(maxPieces); n > 0; n--) s += pick(PIECES);
  return s;
}

/** n fuzzed strings, with a few fixed ones every run sees. */
function cases(n: number, fixed: string[], maxPieces?: number): string[] {
  return [...fixed, ...Array.from({ length: n }, () => fuzz(maxPieces))];
}

const NOT_STRINGS: unknown[] = [undefined, null, 0, 1.5, NaN, true, {}, [], ['a'], new Map(), Symbol('s'), () => 'x', 10n];

function describeValue(v: unknown): string {
  return typeof v === 'symbol' || typeof v === 'bigint' || typeof v === 'function' ? String(v) : (JSON.stringify(v) ?? String(v));
}

/** What the binding promises, written independently of src/lxc/validate.ts. */
const rules = {
  name: (s: string) => /^[A-Za-z0-9._+-]+$/.test(s) && s !== '.' && s !== '..' && !s.startsWith('-') && Buffer.byteLength(s) <= 64,
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this rule refuses
  lxcpath: (s: string) => s.length > 0 && !/[\x00-\x20\x7f"'\\$`*?[\]:,;&|<>(){}#]/.test(s),
  configText: (s: string) => !/[\n\r\0]/.test(s),
  arg: (s: string) => !s.includes('\0'),
  envKey: (s: string) => s.length > 0 && !s.includes('=') && !s.includes('\0'),
  cwd: (s: string) => s.startsWith('/') && !s.includes('\0'),
  id: (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xfffffffe,
  execTimeout: (v: unknown) => typeof v === 'number' && v > 0,
  lxcTimeout: (v: unknown) => typeof v === 'number' && v >= 0,
};

const sandbox = new Sandbox('abuse');
let running: Container;

beforeAll(async () => {
  running = await sandbox.busybox(sandbox.name('fuzz'));
  await running.start();
});
afterAll(() => sandbox.cleanup());

/** The error thrown synchronously, or undefined. */
function thrown(fn: () => unknown): Record<string, unknown> | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err as Record<string, unknown>;
  }
}

/** The rejection, or undefined when the promise resolved. */
async function rejection(promise: Promise<unknown>): Promise<Record<string, unknown> | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return err as Record<string, unknown>;
  }
}

describe(`fuzzed inputs (seed ${SEED.toString(16)})`, () => {
  test.each(cases(150, ['a b', '$(x)', '../x', 'a\nb', '.', '-x', 'x'.repeat(65), 'é', '.hidden', 'ok-1']))(
    'name %j: accepted exactly when the rule allows it, else LXC_INVALID_NAME',
    async (name) => {
      const err = thrown(() => new Container(name, { lxcpath: sandbox.lxcpath }));
      if (rules.name(name)) {
        expect(err).toBeUndefined();
        const c = new Container(name, { lxcpath: sandbox.lxcpath });
        expect(await c.defined()).toBe(false);
        await c.release();
      } else {
        expect(err).toMatchObject({ name: 'LxcError', code: 'LXC_INVALID_NAME' });
      }
      // Neither way leaves anything behind in the lxcpath.
      expect(sandbox.leftovers()).toEqual([running.name]);
    },
  );

  test.each(NOT_STRINGS.map((v) => [describeValue(v), v]))('name %s (not a string) is a TypeError', (_label, value) => {
    expect(thrown(() => new Container(value as string))).toBeInstanceOf(TypeError);
  });

  test.each(cases(150, ['p\nlxc.hook.pre-start = /bin/true\n#', 'a b', 'x\0y', 'ok', 'a:b', 'a,b', '*', 'rel/../x']))(
    'lxcpath SANDBOX/%j: accepted (absolute, normalised) exactly when the rule allows it, else a TypeError',
    async (suffix) => {
      const lxcpath = `${sandbox.lxcpath}/fuzz-lxcpaths/${suffix}`;
      const err = thrown(() => new Container('c', { lxcpath }));
      const listed = await rejection(listContainers({ lxcpath }));
      if (rules.lxcpath(lxcpath)) {
        expect(err).toBeUndefined();
        expect(new Container('c', { lxcpath }).lxcpath).toBe(path.resolve(lxcpath));
        if (listed) expect(listed).toMatchObject({ name: 'LxcError' });
      } else {
        expect(err).toBeInstanceOf(TypeError);
        expect(listed).toBeInstanceOf(TypeError);
      }
      // Checking never makes a directory.
      expect(fs.existsSync(path.join(sandbox.lxcpath, 'fuzz-lxcpaths'))).toBe(false);
    },
  );

  const configKeys = ['lxc.uts.name', 'lxc.environment', 'lxc.init.cwd', 'lxc.hook.pre-start'];
  test.each(
    cases(120, ['a\nlxc.hook.pre-start = /bin/true', 'x\0y', 'plain', ' spaced ', '']).map((text, i) => [
      i % 3 === 0 ? text : pick(configKeys),
      i % 3 === 0 ? 'v' : text,
    ]),
  )('config item %j = %j: refused with the stated code, or stored whole', async (key, value) => {
    // A fresh object each time: what it sets stays in its memory (never saved, never started).
    const c = new Container(running.name, { lxcpath: sandbox.lxcpath });
    try {
      const err = await rejection(c.setConfigItem(key, value));
      if (!rules.configText(key)) {
        expect(err).toMatchObject({ code: 'LXC_INVALID_CONFIG_KEY' });
      } else if (!rules.configText(value)) {
        expect(err).toMatchObject({ code: 'LXC_INVALID_CONFIG_VALUE' });
      } else if (err) {
        expect(['LXC_INVALID_CONFIG_KEY', 'LXC_INVALID_CONFIG_VALUE', 'LXC_CONFIG_FAILED']).toContain(err.code);
      } else if (key === 'lxc.uts.name') {
        // Stored as given (lxc.init.cwd would lose a trailing "/": liblxc's own normalising).
        expect(await c.getConfigItem(key)).toBe(value);
      }
    } finally {
      await c.release();
    }
  });

  test.each(Array.from({ length: 60 }, () => Array.from({ length: 1 + int(4) }, () => fuzz(3))))(
    'argv /bin/sh -c <print each argument> sh %j: each argument arrives whole, or a TypeError',
    async (...args: string[]) => {
      const argv = ['/bin/sh', '-c', 'for a; do printf "%s\\0" "$a"; done', 'sh', ...args];
      const result = await rejection(
        running.exec(argv).then((r) => {
          expect(r.exitCode).toBe(0);
          expect(r.stdout.toString()).toBe(args.map((a) => `${a}\0`).join(''));
        }),
      );
      if (args.every(rules.arg)) expect(result).toBeUndefined();
      else expect(result).toBeInstanceOf(TypeError);
    },
  );

  test.each([
    ['a hole', ['/bin/true', , 'x']], // eslint-disable-line no-sparse-arrays
    ['a number', ['/bin/true', 5]],
    ['undefined', ['/bin/true', undefined]],
    ['an empty program', ['']],
    ['empty', []],
    ['a string', '/bin/true'],
    ['an object', { 0: '/bin/true', length: 1 }],
  ])('argv with %s is a TypeError', async (_label, argv) => {
    expect(await failureOf(running.exec(argv as string[]))).toBeInstanceOf(TypeError);
  });

  test.each(cases(50, ['A', 'A=B', '', 'K\0', 'PATH', 'é', ' '], 2).map((key) => [key, fuzz(3)]))(
    'env %j = %j: set exactly as given, or a TypeError',
    async (key, value) => {
      const asObject = await rejection(running.exec(['/bin/cat', '/proc/self/environ'], { env: { [key]: value } }).then((r) => r.stdout));
      const asMap = await rejection(running.exec(['/bin/cat', '/proc/self/environ'], { env: new Map([[key, value]]) }).then((r) => r.stdout));
      const valid = rules.envKey(key) && rules.arg(value);
      for (const outcome of [asObject, asMap]) {
        if (valid) expect(outcome).toBeUndefined();
        else expect(outcome).toBeInstanceOf(TypeError);
      }
      if (valid) {
        const r = await running.exec(['/bin/cat', '/proc/self/environ'], { env: new Map([[key, value]]) });
        expect(r.stdout.toString().split('\0')).toContain(`${key}=${value}`);
      }
    },
  );

  const dirs = ['/', '/tmp', '/etc', '/bin', '/root', '/no/such', 'tmp', ''];
  test.each(Array.from({ length: 60 }, (_, i) => dirs[i] ?? `${pick(dirs)}${pick(['', '/'])}${fuzz(2)}`))(
    'cwd %j: runs there, or fails with 126 and the reason, or a TypeError; never elsewhere',
    async (cwd) => {
      const outcome = await rejection(
        running.exec(['/bin/pwd'], { cwd }).then((r) => {
          if (r.exitCode === 0) {
            expect(r.stdout.toString()).toBe(`${path.posix.normalize(cwd).replace(/(.)\/$/, '$1')}\n`);
          } else {
            expect(r.exitCode).toBe(126);
            expect(r.stderr.toString()).toContain('lxcts: cannot change to directory');
          }
        }),
      );
      if (rules.cwd(cwd)) expect(outcome).toBeUndefined();
      else expect(outcome).toBeInstanceOf(TypeError);
    },
  );

  test.each(
    [-1, 0, 1, 1000, 65534, 1.5, NaN, Infinity, -Infinity, 2 ** 32 - 2, 2 ** 32 - 1, 2 ** 32, 1e20, '1000', null, true, {}].flatMap((id) => [
      [describeValue(id), id, 'uid'],
      [describeValue(id), id, 'gid'],
    ]),
  )('%s as %s: the command runs as that id, or a TypeError', async (_label, id, which) => {
    // The real id, from the kernel: the busybox template makes busybox setuid and setgid
    // root, so the effective ids of its applets are not what exec() chose.
    const field = which === 'uid' ? 'Uid' : 'Gid';
    const outcome = await rejection(
      running.exec(['/bin/cat', '/proc/self/status'], { [which]: id }).then((r) => {
        expect(r.exitCode).toBe(0);
        expect(new RegExp(`^${field}:\\t(\\d+)`, 'm').exec(r.stdout.toString())?.[1]).toBe(String(id));
      }),
    );
    if (rules.id(id)) expect(outcome).toBeUndefined();
    else expect(outcome).toBeInstanceOf(TypeError);
  });

  const timeouts: unknown[] = [
    -1,
    0,
    NaN,
    '5',
    null,
    true,
    {},
    1e-9,
    0.01,
    0.05,
    30,
    2 ** 31 / 1000,
    2 ** 31,
    2 ** 31 + 1,
    1e12,
    Number.MAX_VALUE,
    Infinity,
    -Infinity,
  ];
  test.each(timeouts.map((t) => [describeValue(t), t]))(
    'exec timeout %s: LXC_TIMEOUT only when shorter than the command, never at once for a long one; else a TypeError',
    async (_label, timeout) => {
      const outcome = await rejection(running.exec(['/bin/sleep', '1'], { timeout: timeout as number }));
      if (!rules.execTimeout(timeout)) expect(outcome).toBeInstanceOf(TypeError);
      else if ((timeout as number) < 0.1) expect(outcome).toMatchObject({ code: 'LXC_TIMEOUT' });
      else expect(outcome).toBeUndefined();
    },
  );

  test.each(timeouts.map((t) => [describeValue(t), t]))(
    'wait/shutdown timeout %s: a container already RUNNING resolves at once for any valid one; else a TypeError',
    async (_label, timeout) => {
      const outcome = await rejection(running.wait('RUNNING', { timeout: timeout as number }));
      if (rules.lxcTimeout(timeout)) expect(outcome).toBeUndefined();
      else expect(outcome).toBeInstanceOf(TypeError);
    },
  );

  test('the process is whole at the end: the container still runs and answers', async () => {
    expect(await running.state()).toBe('RUNNING');
    expect((await running.exec(['/bin/echo', 'alive'])).stdout.toString()).toBe('alive\n');
  });
});
