/**
 * @tier unit
 * The CI server's pure checks: request paths to components, upload manifests and their
 * paths, byte ranges, and the worker token.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { contentTypeOf, parseRange, publishedUrl } from '../../src/server/files';
import { escapeHtml } from '../../src/server/listing';
import { parseRequestPath, rawPathOf } from '../../src/server/request-path';
import { DEFAULT_UPLOAD_LIMITS, parseManifest, uploadPathProblem } from '../../src/server/upload-manifest';
import { bearerMatches, readWorkerToken } from '../../src/server/worker-token';

describe('request paths', () => {
  test('components are decoded once', () => {
    expect(parseRequestPath('/binaries/o/r/main/a%20b.txt', '/binaries')).toEqual({ components: ['o', 'r', 'main', 'a b.txt'], directory: false });
    expect(parseRequestPath('/binaries/o/r/main/', '/binaries')).toEqual({ components: ['o', 'r', 'main'], directory: true });
    expect(parseRequestPath('/binaries', '/binaries')).toEqual({ components: [], directory: true });
    // Doubly encoded: one decoding leaves a harmless name.
    expect(parseRequestPath('/binaries/%252e%252e', '/binaries')?.components).toEqual(['%2e%2e']);
  });

  test.each([
    '/binaries/..',
    '/binaries/%2e%2e/x',
    '/binaries/%2E/x',
    '/binaries/a%2fb',
    '/binaries/a%5cb',
    '/binaries/a\\b',
    '/binaries/a%00b',
    '/binaries//x',
    '/binaries/.versions',
    '/binaries/%E0%A4%A',
    `/binaries/${'a/'.repeat(3000)}`,
    '/binariesx/a',
    '/other/a',
  ])('%s is refused', (raw) => {
    expect(parseRequestPath(raw, '/binaries')).toBeNull();
  });

  test('only the branch component may hold a slash', () => {
    expect(parseRequestPath('/docs/o/r/feature%2Fx/a', '/docs', 2)?.components).toEqual(['o', 'r', 'feature/x', 'a']);
    expect(parseRequestPath('/docs/o/r/feature%2Fx/a%2Fb', '/docs', 2)).toBeNull();
    expect(parseRequestPath('/docs/o/r/%2e%2e/a', '/docs', 2)).toBeNull();
  });

  test('the raw path keeps what a URL parser would resolve', () => {
    expect(rawPathOf('http://h:1/binaries/../x?y=/z#w')).toBe('/binaries/../x');
    expect(rawPathOf('http://h:1')).toBe('/');
  });
});

describe('files helpers', () => {
  test('ranges', () => {
    expect(parseRange('bytes=0-4', 10)).toEqual({ start: 0, end: 4 });
    expect(parseRange('bytes=5-', 10)).toEqual({ start: 5, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=-30', 10)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=8-100', 10)).toEqual({ start: 8, end: 9 });
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-4', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,3-4', 10)).toBeNull();
    expect(parseRange('items=0-1', 10)).toBeNull();
    expect(parseRange(undefined, 10)).toBeNull();
  });

  test('content types and URLs', () => {
    expect(contentTypeOf('index.html')).toBe('text/html; charset=utf-8');
    expect(contentTypeOf('SHA256SUMS')).toBe('text/plain; charset=utf-8');
    expect(contentTypeOf('hello')).toBe('application/octet-stream');
    expect(contentTypeOf('a.tar.gz')).toBe('application/gzip');
    expect(publishedUrl('binaries', 'o/r', 'feature/x', 'bin/a b')).toBe('/binaries/o/r/feature%2Fx/bin/a%20b');
    expect(escapeHtml(`<a href="x">'&`)).toBe('&#60;a href=&#34;x&#34;&#62;&#39;&#38;');
  });
});

describe('upload manifests', () => {
  const sum = createHash('sha256').update('x').digest('hex');
  const base = { repo: 'o/r', commit: 'a'.repeat(40), version: 'v1', branch: 'main', buildId: 1, requestedAt: 1, forced: false };
  const file = { kind: 'binaries', path: 'bin/a', size: 1, sha256: sum };

  test('a good manifest passes', () => {
    expect(parseManifest({ ...base, files: [file, { ...file, kind: 'docs', path: 'index.html' }] }, DEFAULT_UPLOAD_LIMITS).files).toHaveLength(2);
    expect(parseManifest({ ...base, branch: null, files: [file] }, DEFAULT_UPLOAD_LIMITS).branch).toBeNull();
  });

  test.each([
    ['/abs', 'is absolute'],
    ['a/../b', '".."'],
    ['a//b', 'empty'],
    ['a/./b', '"."'],
    ['.hidden', 'starting with "."'],
    ['a\0b', 'NUL'],
    ['a\\b', 'backslash'],
    ['a\nb', 'control'],
    [`${'d/'.repeat(70)}f`, 'deep'],
    ['x'.repeat(300), 'longer than 255'],
    ['y'.repeat(1100), 'longer than 1024'],
  ])('the path %j is refused', (p, why) => {
    expect(uploadPathProblem(p, DEFAULT_UPLOAD_LIMITS)).toContain(why);
  });

  test('limits and clashes refuse the whole manifest', () => {
    const limits = { ...DEFAULT_UPLOAD_LIMITS, maxFiles: 2, maxFileBytes: 10, maxTotalBytes: 15 };
    const refuse = (files: unknown[], extra = {}) => expect(() => parseManifest({ ...base, ...extra, files }, limits)).toThrow(/refused|not valid/);
    refuse([]);
    refuse([file, { ...file, path: 'b' }, { ...file, path: 'c' }]);
    refuse([{ ...file, size: 11 }]);
    refuse([
      { ...file, size: 8 },
      { ...file, path: 'b', size: 8 },
    ]);
    refuse([file, file]);
    refuse([file, { ...file, path: 'bin' }]);
    refuse([{ ...file, path: 'commit' }]);
    refuse([{ ...file, sha256: sum.toUpperCase() }]);
    refuse([{ ...file, extra: 1 }]);
    refuse([file], { repo: 'o/r/x' });
    refuse([file], { branch: 'a b' });
    refuse([file], { version: 'v\n1' });
    refuse([file], { buildId: 0 });
  });
});

describe('worker token', () => {
  const token = 'a-token-of-twenty-chars';

  test('only the exact Bearer token matches', () => {
    expect(bearerMatches(`Bearer ${token}`, token)).toBe(true);
    expect(bearerMatches(`bearer ${token}`, token)).toBe(true);
    for (const header of [undefined, '', 'Bearer', 'Bearer ', token, `Bearer ${token}x`, `Bearer ${token.slice(1)}`, `Basic ${token}`]) {
      expect(bearerMatches(header, token)).toBe(false);
    }
  });

  test('the file must hold one long enough word', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-token-'));
    try {
      fs.writeFileSync(path.join(dir, 'good'), `${token}\n`);
      expect(readWorkerToken(path.join(dir, 'good'))).toBe(token);
      fs.writeFileSync(path.join(dir, 'short'), 'short\n');
      expect(() => readWorkerToken(path.join(dir, 'short'))).toThrow(/at least/);
      fs.writeFileSync(path.join(dir, 'two'), `${token} ${token}\n`);
      expect(() => readWorkerToken(path.join(dir, 'two'))).toThrow(/one word/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
