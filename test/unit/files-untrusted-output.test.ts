/**
 * @tier unit
 * What lxcts-files writes back comes from inside the container: root there can write the
 * program's stdout itself, and the program can die halfway (the container stopped, EIO). A
 * fake program here sends crafted tar streams to pullTar; whatever it sends, the process must
 * not crash, and the tar stream handed to the caller must carry only entries that passed
 * the checks: no header of the container's choosing smuggled in as file bytes, no name out
 * of the tree (plain, in a pax header, absolute), no hard link out of the tree, no "/" entry,
 * nothing below a symbolic link, no devices.
 */
import { PassThrough, Readable } from 'node:stream';

import { type FilesHost, pullFile, pullTar, pushTar } from '../../src/lxc/files';

import { END, entry, header, pax, rawPax } from '../helpers/tar-craft';

/** A FilesHost whose program writes `output` (then ends it, or not), says `stderr` and exits with `exitCode`. */
function fakeProgram(output: Buffer, o: { exitCode?: number; stderr?: string; endOutput?: boolean; chunk?: number } = {}): FilesHost & { killed: boolean } {
  const host = {
    name: 'fake',
    killed: false,
    spawnFilesProgram: async () => {
      const stdout = new PassThrough();
      for (let at = 0; at < output.length; at += o.chunk ?? output.length) stdout.write(output.subarray(at, at + (o.chunk ?? output.length)));
      if (o.endOutput !== false) stdout.end();
      return {
        stdout,
        stderr: Readable.from(o.stderr ? [Buffer.from(o.stderr)] : []),
        stdin: new PassThrough(),
        wait: async () => ({ exitCode: o.exitCode ?? 0, signal: null }),
        kill: () => {
          host.killed = true;
          stdout.destroy();
        },
      } as never;
    },
  };
  return host;
}

/** The names a tar reader finds in what pullTar handed out, and the error the stream ended with. */
async function readTar(out: Readable): Promise<{ names: string[]; error: string | null; bytes: number; modes: number[]; raw: Buffer }> {
  const chunks: Buffer[] = [];
  let error: string | null = null;
  await new Promise<void>((resolve) => {
    out.on('data', (c: Buffer) => chunks.push(c));
    out.on('error', (e) => (error = e.message));
    out.on('close', resolve);
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const extract = (require('tar-stream') as typeof import('tar-stream')).extract();
  const names: string[] = [];
  const modes: number[] = [];
  extract.on('entry', (h, s, next) => {
    modes.push(h.mode ?? -1);
    names.push(`${h.type}:${h.name}${h.linkname ? ` -> ${h.linkname}` : ''}`);
    s.resume();
    next();
  });
  extract.on('error', () => undefined);
  extract.end(Buffer.concat(chunks));
  await new Promise((r) => setImmediate(r));
  return { names, error, bytes: Buffer.concat(chunks).length, modes, raw: Buffer.concat(chunks) };
}

let uncaught: Error[] = [];
const onUncaught = (err: Error) => uncaught.push(err);
beforeEach(() => {
  uncaught = [];
  process.on('uncaughtException', onUncaught);
});
afterEach(() => {
  process.off('uncaughtException', onUncaught);
  expect(uncaught.map((e) => e.message)).toEqual([]);
});

test("bytes beyond a file's size (a tar header of the container's own) end the stream before they reach the caller", async () => {
  const forged = header({ name: '../../../../tmp/pwned', size: 0 });
  // The file says 0 bytes: what follows is read as a header, and that one is checked too.
  const host = fakeProgram(Buffer.concat([entry({ name: 'a' }), forged, END]));
  const got = await readTar(await pullTar(host, '/x'));
  expect(got.error).toMatch(/malformed tar: entry/);
  expect(got.names.some((n) => n.includes('pwned'))).toBe(false);
  expect(got.bytes).toBeLessThan(1024);
  expect(host.killed).toBe(true);
});

test('a file shorter than its header said fails instead of a tar the reader takes as whole', async () => {
  const host = fakeProgram(Buffer.concat([header({ name: 'a', size: 10 }), Buffer.from('abc')]));
  const got = await readTar(await pullTar(host, '/x'));
  expect(got.error).toMatch(/short of its size/);
});

test('names out of the tree, hard links out of it, "/", entries below a link, devices and broken headers are refused', async () => {
  const cases: Buffer[] = [
    entry({ name: '../escaped' }, Buffer.from('x')),
    entry({ name: '/etc/passwd' }, Buffer.from('x')),
    Buffer.concat([pax({ path: 'ok/../../etc/passwd' }), entry({ name: 'innocent' }, Buffer.from('x'))]),
    entry({ name: 'b', type: '1', linkname: '../../../../etc/shadow' }),
    entry({ name: 'b', type: '1', linkname: '/etc/passwd' }),
    entry({ name: '/', type: '5' }),
    entry({ name: './', type: '5' }),
    Buffer.concat([entry({ name: 'etc', type: '2', linkname: '/etc' }), entry({ name: 'etc/passwd' }, Buffer.from('x'))]),
    Buffer.concat([entry({ name: 'etc', type: '2', linkname: '/etc' }), pax({ path: 'etc/passwd' }), entry({ name: 'x' }, Buffer.from('x'))]),
    entry({ name: 'null', type: '3' }),
    entry({ name: 'fifo', type: '6' }),
    entry({ name: 'global', type: 'g' }, Buffer.from('11 path=x\n')),
    entry({ name: 'dir', type: '5' }, Buffer.from('data a reader would skip')),
    entry({ name: 'a', badChecksum: true }, Buffer.from('x')),
    entry({ name: 'a', sizeField: '00000000zz\0' }),
    Buffer.concat([header({ name: 'PaxHeader', type: 'x', size: 1024 * 1024 }), Buffer.alloc(1024 * 1024, 0x61)]),
    Buffer.concat([pax({ path: 'a'.repeat(5000) }), entry({ name: 'a' })]),
    Buffer.concat([entry({ name: 'PaxHeader', type: 'x' }, Buffer.from('99 path=x\n')), entry({ name: 'a' })]),
    Buffer.concat([entry({ name: 'a' }), END, entry({ name: 'after-the-end' })]),
  ];
  for (const tar of cases) {
    const got = await readTar(await pullTar(fakeProgram(Buffer.concat([tar, END])), '/x'));
    expect(got.error).toMatch(/malformed tar/);
    expect(got.names.filter((n) => /shadow|passwd|escaped|null|fifo|global|after-the-end|:\/$/.test(n))).toEqual([]);
  }
});

test('a program that dies halfway through a file fails the stream with its words, escaped, and crashes nothing', async () => {
  const host = fakeProgram(Buffer.concat([header({ name: 'a', size: 100 }), Buffer.alloc(10)]), {
    exitCode: 1,
    stderr: 'lxcts-files: a: Input/output error\x1b]52;c;bWFsbG9yeQ==\x07\n',
  });
  const got = await readTar(await pullTar(host, '/x'));
  expect(got.error).toContain('a: Input/output error');
  // eslint-disable-next-line no-control-regex
  expect(got.error).not.toMatch(/[\x00-\x1f]/);
});

test('a program that fails after a whole archive fails the stream', async () => {
  const host = fakeProgram(Buffer.concat([entry({ name: 'a' }, Buffer.from('x')), END]), { exitCode: 1, stderr: 'lxcts-files: b: Permission denied\n' });
  const got = await readTar(await pullTar(host, '/x'));
  expect(got.error).toContain('b: Permission denied');
});

test('a reader that goes away in the middle of a file stops the program and crashes nothing', async () => {
  const host = fakeProgram(Buffer.concat([header({ name: 'a', size: 1 << 20 }), Buffer.alloc(65536)]), { endOutput: false });
  const out = await pullTar(host, '/x');
  out.once('data', () => out.destroy());
  await new Promise((r) => out.once('close', r));
  await new Promise((r) => setTimeout(r, 50));
  expect(out.destroyed).toBe(true);
  expect(host.killed).toBe(true);
});

test('what a well-formed program sends still reads back whole, data untouched, long names through pax', async () => {
  const long = `x/${'d'.repeat(150)}/${'f'.repeat(120)}`;
  const data = Buffer.alloc(70000, 7);
  const tar = Buffer.concat([
    entry({ name: 'x/', type: '5' }),
    entry({ name: 'x/a' }, Buffer.from('abc')),
    entry({ name: 'x/b', type: '1', linkname: 'x/a' }),
    entry({ name: 'x/c', type: '2', linkname: '/etc' }),
    pax({ path: long }),
    entry({ name: 'x/long' }, data),
    END,
  ]);
  // Chunks that cut headers and data anywhere.
  const host = fakeProgram(tar, { chunk: 333 });
  const got = await readTar(await pullTar(host, '/x'));
  expect(got.error).toBeNull();
  expect(got.names).toEqual(['directory:x/', 'file:x/a', 'link:x/b -> x/a', 'symlink:x/c -> /etc', `file:${long}`]);
  expect(got.bytes).toBe(tar.length);
});

test('a second extended header before an entry is refused: extractors read only the last, the checker would read both', async () => {
  const smuggled = [
    // The checker would take "safe" for the name; GNU tar and tar-stream the header's absolute one.
    Buffer.concat([pax({ path: 'safe' }), pax({ comment: 'x' }), entry({ name: '/tmp/ABS-twoX' }, Buffer.from('pwned')), END]),
    // The checker would take 1024 bytes of data; extractors read the next blocks as headers (a device).
    Buffer.concat([pax({ size: '1024' }), pax({ comment: 'x' }), header({ name: 'cover', size: 0 }), header({ name: 'dev-sda', type: '4' }), END]),
    // Eight of 60 KiB each: none is held waiting for an entry.
    Buffer.concat([...Array.from({ length: 8 }, () => pax({ comment: 'a'.repeat(60 * 1024) })), entry({ name: 'a' }), END]),
  ];
  for (const tar of smuggled) {
    const got = await readTar(await pullTar(fakeProgram(tar), '/x'));
    expect(got.error).toMatch(/two extended headers before one entry/);
    expect(got.names.filter((n) => /ABS|dev-sda|cover|:a$/.test(n))).toEqual([]);
  }
});

test('an extended header record length that is not plain decimal, and GNU sparse records, are refused', async () => {
  const record = ' comment=aaaaaaaaaaaaaaaaaaaaaa\n';
  for (const length of ['0x23', '+35', '3.5e1', '035']) {
    // Every one of them reads as 35 with Number(): the record's true length.
    const tar = Buffer.concat([rawPax(`${length}${record.slice(0, 35 - length.length - 1)}\n`), entry({ name: '/tmp/ABS-hex' }, Buffer.from('pwned')), END]);
    const got = await readTar(await pullTar(fakeProgram(tar), '/x'));
    expect(got.error).toMatch(/extended header record does not parse/);
    expect(got.names).toEqual([]);
  }
  const sparse = Buffer.concat([pax({ 'GNU.sparse.size': '100' }), entry({ name: 'f' }, Buffer.from('abc')), END]);
  expect((await readTar(await pullTar(fakeProgram(sparse), '/x'))).error).toMatch(/sparse/);
});

test("no header of the container's goes out: each is written afresh from what was checked, unknown pax keys dropped", async () => {
  const tar = Buffer.concat([pax({ comment: 'SMUGGLED', 'SCHILY.xattr.security.capability': 'SMUGGLED' }), entry({ name: './d//f' }, Buffer.from('abc')), END]);
  const got = await readTar(await pullTar(fakeProgram(tar), '/x'));
  expect(got.error).toBeNull();
  expect(got.names).toEqual(['file:d/f']);
  expect(got.raw.includes('SMUGGLED')).toBe(false);
  expect(got.raw.includes('abc')).toBe(true);
});

test('set-id and sticky bits are cleared unless the caller keeps them', async () => {
  const tar = Buffer.concat([
    entry({ name: 'sh', mode: 0o4755 }, Buffer.from('#!/bin')),
    entry({ name: 'g', mode: 0o2755 }),
    entry({ name: 't/', type: '5', mode: 0o1777 }),
    END,
  ]);
  expect((await readTar(await pullTar(fakeProgram(tar), '/x'))).modes).toEqual([0o755, 0o755, 0o777]);
  expect((await readTar(await pullTar(fakeProgram(tar), '/x', { keepSetId: true }))).modes).toEqual([0o4755, 0o2755, 0o1777]);
  await expect(pullTar(fakeProgram(tar), '/x', { keepSetId: 'yes' as never })).rejects.toThrow(TypeError);
});

test('a hard link must name an earlier file of the archive, reached without a symbolic link', async () => {
  const bad = [
    // Through an in-tree link to outside: an extractor would link the host's file.
    Buffer.concat([entry({ name: 'lnk', type: '2', linkname: '/etc' }), entry({ name: 'h', type: '1', linkname: 'lnk/shadow' }), END]),
    Buffer.concat([entry({ name: 'h', type: '1', linkname: 'lnk' }), END]),
    Buffer.concat([entry({ name: 'd/', type: '5' }), entry({ name: 'h', type: '1', linkname: 'd' }), END]),
    Buffer.concat([entry({ name: 's', type: '2', linkname: '/etc/shadow' }), entry({ name: 'h', type: '1', linkname: 's' }), END]),
  ];
  for (const tar of bad) {
    const got = await readTar(await pullTar(fakeProgram(tar), '/x'));
    expect(got.error).toMatch(/malformed tar: hard link "h"/);
    expect(got.names.filter((n) => n.startsWith('link:'))).toEqual([]);
  }
});

test('an output a process of the container keeps open after the program exited fails the call instead of holding it forever', async () => {
  // Without a timeout: a short grace once the reader has read everything.
  const file = await pullFile(fakeProgram(Buffer.from('abc'), { endOutput: false }), '/f');
  const read = await readAll(file);
  expect(read.data).toBe('abc');
  expect(read.error).toMatchObject({ code: 'LXC_TIMEOUT' });
  // With one: its deadline.
  expect((await readAll(await pullFile(fakeProgram(Buffer.from('abc'), { endOutput: false }), '/f', { timeout: 1 }))).error).toMatchObject({
    code: 'LXC_TIMEOUT',
  });
  await expect(pushTar(fakeProgram(Buffer.from('entries 0\n'), { endOutput: false }), Readable.from([END]), '/d')).rejects.toMatchObject({
    code: 'LXC_TIMEOUT',
  });
  // An output that ends is still read whole.
  expect(await pushTar(fakeProgram(Buffer.from('entries 0\n')), Readable.from([END]), '/d')).toEqual({ entries: 0, skipped: [] });
});

async function readAll(out: Readable): Promise<{ data: string; error: unknown }> {
  let data = '';
  let error: unknown = null;
  await new Promise<void>((resolve) => {
    out.on('data', (c: Buffer) => (data += c.toString()));
    out.on('error', (e) => (error = e));
    out.on('close', resolve);
  });
  return { data, error };
}
