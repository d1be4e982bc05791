/**
 * Container.console() and consoleLog() against real busybox containers: a command typed at
 * the console's shell and its output read back, the window size as `stty size` sees it,
 * detach and attach again (the tty is free, the container still runs), the tty's getty,
 * the console log with boot output, and no descriptor left behind.
 */
import { Container } from '../src';
import { failureOf, Sandbox } from './helpers/sandbox';
import { fdCount } from './helpers/procfs';
import { waitFor } from './helpers/wait';

const sandbox = new Sandbox('console');
let c: Container;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('console'));
  // The console log keeps what the console printed; liblxc sizes the buffer itself.
  await c.setConfigItem('lxc.console.buffer.size', 'auto');
  await c.start();
}, 120_000);

afterAll(() => sandbox.cleanup(), 120_000);

/** Everything the console printed since attaching, as text. */
function collect(con: { output: NodeJS.ReadableStream }): () => string {
  let text = '';
  con.output.on('data', (d: Buffer) => (text += d.toString('utf8')));
  return () => text;
}

/** The console's shell is busybox init's "askfirst": Enter starts it. Runs `command` there and waits for `expect`. */
async function runAtConsole(con: { input: NodeJS.WritableStream }, output: () => string, command: string, expect: string | RegExp): Promise<void> {
  con.input.write('\r');
  await waitFor(
    () => output().includes('# '),
    () => `no shell prompt on the console; it printed ${JSON.stringify(output())}`,
    { seconds: 20 },
  );
  con.input.write(`${command}\r`);
  await waitFor(
    () => (typeof expect === 'string' ? output().includes(expect) : expect.test(output())),
    () => `no ${String(expect)} on the console; it printed ${JSON.stringify(output())}`,
    { seconds: 20 },
  );
}

test('a command typed at the console runs in the container and its output comes back', async () => {
  const con = await c.console({ tty: 0 });
  try {
    expect(con.tty).toBe(0);
    const output = collect(con);
    // The product is computed in the container: the echo of the typed line cannot hold it.
    await runAtConsole(con, output, 'echo marker-$((6*7))', 'marker-42');
  } finally {
    await con.detach();
  }
}, 60_000);

test('resize() sets the window size the console shell sees with stty size', async () => {
  const con = await c.console({ tty: 0, cols: 91, rows: 19 });
  try {
    const output = collect(con);
    await runAtConsole(con, output, 'stty size', '19 91');
    // liblxc gives the console as a proxy terminal; the size reaches the real one only
    // because lxcts tells the container's monitor (SIGWINCH).
    expect(con.resize(123, 45)).toBe(true);
    await runAtConsole(con, output, 'stty size', '45 123');
  } finally {
    await con.detach();
  }
}, 60_000);

test('a tty in use cannot be attached twice; detach frees it and leaves the container running', async () => {
  const first = await c.console({ tty: 0 });
  const busy = await failureOf(c.console({ tty: 0 }));
  expect(busy.code).toBe('LXC_CONSOLE_BUSY');
  await first.detach();
  expect(first.resize(80, 24)).toBe(false);
  expect(await c.state()).toBe('RUNNING');
  const second = await c.console({ tty: 0 });
  try {
    const output = collect(second);
    await runAtConsole(second, output, 'echo again-$((2+3))', 'again-5');
  } finally {
    await second.detach();
  }
}, 60_000);

test('the default is the first free tty, where busybox runs a getty', async () => {
  const con = await c.console();
  try {
    expect(con.tty).toBeGreaterThanOrEqual(1);
    const output = collect(con);
    con.input.write('\r');
    await waitFor(
      () => output().includes('login:'),
      () => `no login prompt on tty ${con.tty}: ${JSON.stringify(output())}`,
      { seconds: 20 },
    );
  } finally {
    await con.detach();
  }
}, 60_000);

test('attaching and detaching leaves no descriptor open', async () => {
  // Warm up: the first calls open the handle's log and load what Node loads once.
  await (await c.console({ tty: 0 })).detach();
  const before = fdCount();
  for (let i = 0; i < 10; i++) await (await c.console({ tty: 0 })).detach();
  expect(fdCount()).toBe(before);
}, 60_000);

test('a large paste while the shell does not read never blocks this process', async () => {
  const con = await c.console({ tty: 2 });
  try {
    // Nothing reads tty 2's input past its getty's line: 1 MB fills the terminal's queue.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const accepted = con.input.write(Buffer.alloc(1 << 20, 'x'));
    expect(accepted).toBe(false); // back-pressure, not a blocked write()
    await waitFor(() => ticks >= 5, 'the event loop to turn while the paste waits', { seconds: 10 });
    clearInterval(timer);
  } finally {
    await con.detach();
  }
}, 60_000);

test('consoleLog() holds the boot output; clear empties it', async () => {
  const log = await c.consoleLog();
  // busybox init's askfirst line is printed once at boot.
  expect(log).toContain('Please press Enter to activate this console');
  await c.consoleLog({ clear: true });
  expect(await c.consoleLog()).toBe('');
}, 60_000);

test('consoleLog() without lxc.console.buffer.size says what to set', async () => {
  const other = await sandbox.busybox(sandbox.name('console'));
  await other.start();
  try {
    const err = await failureOf(other.consoleLog());
    expect(err.code).toBe('LXC_CONSOLE_LOG_UNAVAILABLE');
    expect(err.message).toContain('lxc.console.buffer.size');
  } finally {
    await other.stop();
  }
}, 60_000);

test('console() on a stopped container is LXC_NOT_RUNNING; bad options are TypeErrors', async () => {
  const stopped = await sandbox.busybox(sandbox.name('console'));
  expect((await failureOf(stopped.console())).code).toBe('LXC_NOT_RUNNING');
  await expect(c.console({ tty: 1.5 })).rejects.toThrow(TypeError);
  await expect(c.console({ tty: -2 })).rejects.toThrow(TypeError);
  await expect(c.console({ cols: 80 })).rejects.toThrow(TypeError);
  await expect(c.console({ cols: 0, rows: 10 })).rejects.toThrow(TypeError);
}, 60_000);

test('the console ends when the container stops: output ends and closed resolves', async () => {
  const other = await sandbox.busybox(sandbox.name('console'));
  await other.start();
  const con = await other.console({ tty: 0 });
  const ended = new Promise<void>((resolve) => con.output.once('end', resolve));
  con.output.resume();
  await other.stop();
  await ended;
  await con.closed;
  expect(con.resize(80, 24)).toBe(false);
}, 60_000);
