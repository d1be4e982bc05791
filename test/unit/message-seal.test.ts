/**
 * @tier unit
 * The NSQ message seal (src/ci/message-seal.ts): a sealed body opens on its own topic with
 * the same key and is byte for byte what was sealed; an unsigned message, another topic,
 * another key, a changed byte or a cut MAC are refused and counted; without a key nothing is
 * refused and an envelope is taken off; the consume seam finishes a refused message, logs
 * one escaped line and never calls the handler; the key file is refused when others may read
 * it, when it is a link, or short.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Reader } from 'nsqjs';

import { escapedStart, loadMessageSeal, MessageSeal, onSealedMessage, readMessageKey } from '../../src/ci/message-seal';
import { capturedLog } from '../helpers/captured-log';

const KEY = Buffer.from(randomBytes(32).toString('hex'));
const PUSHES = 'lxcts.pushes';
const LOGS = 'lxcts.logs';
const BODY = JSON.stringify({ kind: 'push', repo: 'octo/hello', note: 'ünïcode ✓' });

const sealed = (topic: string, body = BODY, key = KEY) => Buffer.from(new MessageSeal(key).seal(topic, body), 'utf8');

describe('sealing and opening', () => {
  test('a sealed body opens on its topic with the key, exactly the bytes sealed; the envelope is one header line', () => {
    const raw = sealed(PUSHES);
    expect(raw.toString('utf8')).toMatch(/^lxcts-seal-v1 [A-Za-z0-9_-]{43}\n\{/);
    const opened = new MessageSeal(KEY).open(PUSHES, raw);
    expect(opened).toEqual({ body: Buffer.from(BODY, 'utf8'), sealed: true });
  });

  test('refused: unsigned, sealed for another topic (a log chunk replayed as a push), with another key, a changed byte, a cut MAC', () => {
    const seal = new MessageSeal(KEY);
    expect(seal.open(PUSHES, Buffer.from(BODY))).toEqual({ refused: 'unsigned' });
    expect(seal.open(PUSHES, sealed(LOGS))).toEqual({ refused: 'bad-mac' });
    expect(seal.open(PUSHES, sealed(PUSHES, BODY, Buffer.from(randomBytes(32).toString('hex'))))).toEqual({ refused: 'bad-mac' });
    const changed = sealed(PUSHES);
    changed.writeUInt8((changed.at(-2) ?? 0) ^ 1, changed.length - 2);
    expect(seal.open(PUSHES, changed)).toEqual({ refused: 'bad-mac' });
    const text = sealed(PUSHES).toString('utf8');
    expect(seal.open(PUSHES, Buffer.from(text.replace(/ (\S+)\n/, (_m, mac: string) => ` ${mac.slice(1)}\n`)))).toEqual({ refused: 'unsigned' });
    expect(seal.open(PUSHES, Buffer.from(`${text.slice(0, 57)}`))).toEqual({ refused: 'unsigned' });
    // Each counted under its topic and reason.
    expect(seal.refusals().sort((a, b) => a.reason.localeCompare(b.reason))).toEqual([
      { topic: PUSHES, reason: 'bad-mac', count: 3 },
      { topic: PUSHES, reason: 'unsigned', count: 3 },
    ]);
  });

  test('an empty body and a body that is itself an envelope are sealed and opened like any other', () => {
    const seal = new MessageSeal(KEY);
    expect(seal.open(PUSHES, sealed(PUSHES, ''))).toEqual({ body: Buffer.alloc(0), sealed: true });
    const inner = seal.seal(LOGS, BODY);
    expect(seal.open(PUSHES, sealed(PUSHES, inner))).toEqual({ body: Buffer.from(inner), sealed: true });
  });

  test('without a key: nothing sealed, nothing refused, an envelope taken off unchecked', () => {
    const trusting = new MessageSeal(null);
    expect(trusting.keyed).toBe(false);
    expect(trusting.seal(PUSHES, BODY)).toBe(BODY);
    expect(trusting.open(PUSHES, Buffer.from(BODY))).toEqual({ body: Buffer.from(BODY), sealed: false });
    expect(trusting.open(PUSHES, sealed(LOGS))).toEqual({ body: Buffer.from(BODY), sealed: true });
    expect(trusting.refusals()).toEqual([]);
  });
});

/** A stand-in for nsqjs's Message: the raw body behind a getter, as nsqjs has it. */
class FakeMessage {
  finished = 0;
  constructor(readonly raw: Buffer) {}
  get id(): string {
    return '0a1b2c3d4e5f6a7b';
  }
  get body(): Buffer {
    return this.raw;
  }
  json(): unknown {
    return JSON.parse(this.body.toString('utf8'));
  }
  finish(): void {
    this.finished++;
  }
}

describe('the consume seam', () => {
  function deliver(seal: MessageSeal, raw: Buffer) {
    const reader = new EventEmitter();
    const { log, lines } = capturedLog();
    const handled: unknown[] = [];
    onSealedMessage(reader as unknown as Reader, PUSHES, seal, log, (m) => handled.push(m.json()));
    const message = new FakeMessage(raw);
    reader.emit('message', message);
    return { message, handled, lines };
  }

  test('a sealed message reaches the handler with the body that was sealed', () => {
    const { message, handled, lines } = deliver(new MessageSeal(KEY), sealed(PUSHES));
    expect(handled).toEqual([JSON.parse(BODY)]);
    expect(message.finished).toBe(0);
    expect(lines).toEqual([]);
  });

  test('a forged message is finished, never handled, and logged once with its bytes escaped', () => {
    const forged = Buffer.concat([Buffer.from('{"kind":"push","x":"\x1b]52;c;'), Buffer.from([0xe2, 0x80, 0xae, 0x5c, 0x0a])]);
    const { message, handled, lines } = deliver(new MessageSeal(KEY), forged);
    expect(handled).toEqual([]);
    expect(message.finished).toBe(1);
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatchObject({ level: 40, topic: PUSHES, reason: 'unsigned', bytes: forged.length, id: '0a1b2c3d4e5f6a7b' });
    expect(line?.msg).toMatch(/without the lxcts seal dropped/);
    expect(line?.start).toBe('{"kind":"push","x":"\\x1b]52;c;\\xe2\\x80\\xae\\x5c\\x0a');
    expect(String(line?.start)).toMatch(/^[\x20-\x7e]*$/);
  });

  test('a flood of forged messages is logged at most 20 lines a minute per reader, and every one is still counted', () => {
    const reader = new EventEmitter();
    const { log, lines } = capturedLog();
    const seal = new MessageSeal(KEY);
    onSealedMessage(reader as unknown as Reader, PUSHES, seal, log, () => undefined);
    const messages = Array.from({ length: 1000 }, () => new FakeMessage(Buffer.from('{}')));
    for (const m of messages) reader.emit('message', m);
    expect(messages.every((m) => m.finished === 1)).toBe(true);
    expect(lines).toHaveLength(20);
    expect(seal.refusals()).toEqual([{ topic: PUSHES, reason: 'unsigned', count: 1000 }]);
  });

  test('without a key the unsigned message is handled as before', () => {
    const { handled, message } = deliver(new MessageSeal(null), Buffer.from(BODY));
    expect(handled).toEqual([JSON.parse(BODY)]);
    expect(message.finished).toBe(0);
  });

  test('escapedStart keeps printable ASCII, escapes the rest and the backslash, and cuts long input', () => {
    expect(escapedStart(Buffer.from('ab\\\x7f\x00'))).toBe('ab\\x5c\\x7f\\x00');
    expect(escapedStart(Buffer.from('x'.repeat(60)), 48)).toBe(`${'x'.repeat(48)}...`);
  });
});

describe('the key file', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-message-key-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string | Buffer, mode = 0o600) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text, { mode });
    fs.chmodSync(file, mode);
    return file;
  };
  const failure = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return { code: (err as { code?: string }).code, message: (err as Error).message };
    }
    return { code: 'none', message: '' };
  };

  test('its text without the trailing newline is the key', () => {
    const hex = randomBytes(32).toString('hex');
    expect(readMessageKey(write('key', `${hex}\n`)).toString()).toBe(hex);
  });

  test('refused when group or others may read it (0644, 0640), when it is a link, when it is shorter than 32 bytes, when it is missing', () => {
    const hex = randomBytes(32).toString('hex');
    expect(failure(() => readMessageKey(write('open', hex, 0o644)))).toEqual({
      code: 'MESSAGE_KEY',
      message: expect.stringMatching(/the message key .*open has mode 644: others may read it; chmod 600 it$/),
    });
    expect(failure(() => readMessageKey(write('group', hex, 0o640))).code).toBe('MESSAGE_KEY');
    const target = write('target', hex);
    fs.symlinkSync(target, path.join(dir, 'link'));
    expect(failure(() => readMessageKey(path.join(dir, 'link'))).code).toBe('MESSAGE_KEY');
    expect(failure(() => readMessageKey(write('short', `${'a'.repeat(31)}\n`)))).toEqual({
      code: 'MESSAGE_KEY',
      message: expect.stringMatching(/has 31 bytes, fewer than 32/),
    });
    expect(failure(() => readMessageKey(path.join(dir, 'missing'))).code).toBe('MESSAGE_KEY');
  });

  test('loadMessageSeal: a key file gives a keyed seal; none says once that nsqd is trusted', () => {
    const { log, lines } = capturedLog();
    expect(loadMessageSeal(write('key', randomBytes(32).toString('hex')), log).keyed).toBe(true);
    expect(lines).toEqual([]);
    expect(loadMessageSeal(undefined, log).keyed).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, msg: expect.stringMatching(/^no --message-key-file: nsqd is trusted/) });
  });
});
