/**
 * @tier unit
 * Build log times: the server keeps when each chunk was cut and a page of the log says it
 * (LogPage.times, from a real SQLite store); the renderer puts the time of the chunk
 * holding each line's first byte before that line, as elapsed time, across pieces and
 * pages, without changing a byte of the log's text.
 */
import { randomUUID } from 'node:crypto';

import { elapsed, LogRenderer } from '../../src/server/log-html';
import { ServerStore } from '../../src/server/server-store';

const START = Date.parse('2026-12-04T10:00:00.000Z');

/** The stamps and the text of rendered HTML, one entry per line start stamped. */
function stamps(html: string): string[] {
  return [...html.matchAll(/data-t="([^"]*)"/g)].map((m) => m[1] ?? '');
}

/** The text a reader copies: every tag gone (the stamps are drawn by CSS), entities decoded. */
function text(html: string): string {
  return html
    .replace(/<[^>]*>/g, '')
    .replaceAll('&#60;', '<')
    .replaceAll('&#62;', '>')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&#38;', '&')
    .replaceAll('&amp;', '&')
    .replaceAll('&#39;', "'")
    .replaceAll('&#34;', '"')
    .replaceAll('&quot;', '"');
}

test('elapsed time as people read it', () => {
  expect([0, 999, 5_000, 65_000, 3_600_000 + 61_000, -5].map(elapsed)).toEqual(['0:00', '0:00', '0:05', '1:05', '1:01:01', '0:00']);
});

test("each line gets the time of the chunk its first byte came in; a line cut between chunks keeps the first chunk's", () => {
  const log = Buffer.from('first\nsecond li');
  const rest = Buffer.from('ne\nthird\n');
  const times = [{ offset: 0, at: START + 2_000 }];
  const later = [{ offset: log.length, at: START + 65_000 }];
  const renderer = new LogRenderer(START);
  const html = renderer.push(log, 0, times) + renderer.push(rest, log.length, later);
  expect(stamps(html)).toEqual(['0:02', '0:02', '1:05']);
  expect(text(html)).toBe('first\nsecond line\nthird\n');
});

test('a page that starts mid-line stamps only the lines that start in it; without a start time, the time of day', () => {
  const renderer = new LogRenderer(null, false);
  const html = renderer.push(Buffer.from('tail of a line\nnext\n'), 100, [{ offset: 100, at: START + 3_000 }]);
  expect(stamps(html)).toEqual(['10:00:03']);
  expect(html.indexOf('data-t')).toBeGreaterThan(html.indexOf('tail of a line'));
});

test('colours, markup and a time no Date can hold: the text is the log, escaped, and nothing throws', () => {
  const log = Buffer.from('\x1b[31mred <b>\x1b[0m\nplain & done\n');
  const html = new LogRenderer(START).push(log, 0, [
    { offset: 0, at: 1e20 },
    { offset: 15, at: START },
  ]);
  expect(html).not.toContain('<b>');
  expect(text(html)).toBe('red <b>\nplain & done\n');
  expect(stamps(html)).toEqual(['', '0:00']);
});

test("the store's log pages say when their bytes were cut into chunks, from the page's first byte", () => {
  const store = new ServerStore(':memory:');
  try {
    const build = randomUUID();
    const pieces = ['aaaa\n', 'bbbb\n', 'cccc\n'];
    let offset = 0;
    for (const [seq, piece] of pieces.entries()) {
      store.ingestChunk({ v: 1, build, seq, offset, step: 1, at: START + seq * 1000, data: Buffer.from(piece).toString('base64') });
      offset += piece.length;
    }
    expect(store.readLog(build, 0, 100).times).toEqual([
      { offset: 0, at: START },
      { offset: 5, at: START + 1000 },
      { offset: 10, at: START + 2000 },
    ]);
    // From the middle of chunk 1, two bytes into chunk 2.
    expect(store.readLog(build, 7, 5).times).toEqual([
      { offset: 7, at: START + 1000 },
      { offset: 10, at: START + 2000 },
    ]);
    expect(store.readLog(build, 15, 10).times).toEqual([]);
  } finally {
    store.close();
  }
});
