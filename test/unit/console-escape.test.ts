/**
 * @tier unit
 * The detach keys of `lxcts console` (src/cli/console-escape.ts): as lxc-console, Ctrl-a q
 * detaches, Ctrl-a Ctrl-a types one Ctrl-a, and the sequence may be split across reads.
 */
import { EscapeReader, escapeByte } from '../../src/cli/console-escape';

const CTRL_A = '\x01';

test('keys without the escape key pass through unchanged', () => {
  expect(new EscapeReader('a').feed(Buffer.from('ls -l\r'))).toEqual({ send: Buffer.from('ls -l\r'), detach: false });
});

test('Ctrl-a q detaches; what came before it is still sent', () => {
  expect(new EscapeReader('a').feed(Buffer.from(`ab${CTRL_A}q`))).toEqual({ send: Buffer.from('ab'), detach: true });
});

test('Ctrl-a q split across two reads detaches', () => {
  const reader = new EscapeReader('a');
  expect(reader.feed(Buffer.from(`x${CTRL_A}`))).toEqual({ send: Buffer.from('x'), detach: false });
  expect(reader.feed(Buffer.from('q'))).toEqual({ send: Buffer.alloc(0), detach: true });
});

test('Ctrl-a Ctrl-a sends one Ctrl-a; Ctrl-a then another key sends both', () => {
  expect(new EscapeReader('a').feed(Buffer.from(`${CTRL_A}${CTRL_A}`)).send).toEqual(Buffer.from(CTRL_A));
  expect(new EscapeReader('a').feed(Buffer.from(`${CTRL_A}x`)).send).toEqual(Buffer.from(`${CTRL_A}x`));
});

test('another escape letter: Ctrl-b q detaches and Ctrl-a is an ordinary key', () => {
  const reader = new EscapeReader('b');
  expect(reader.feed(Buffer.from(`${CTRL_A}q`))).toEqual({ send: Buffer.from(`${CTRL_A}q`), detach: false });
  expect(reader.feed(Buffer.from('\x02q')).detach).toBe(true);
});

test('the escape key is one letter', () => {
  expect(escapeByte('A')).toBe(1);
  expect(escapeByte('z')).toBe(0x1a);
  for (const bad of ['', 'ab', '1', '^', '\x01']) expect(() => escapeByte(bad)).toThrow(TypeError);
});
