/**
 * @tier unit
 * What lxcts-files writes back comes from inside the container: root there can write the
 * program's stdout itself, and the program can die halfway (the container stopped, EIO). A
 * fake program here sends crafted frames to pullTar; whatever it sends, the process must
 * not crash, and the tar stream handed to the caller must carry only entries that passed
 * the checks: no name of the container's choosing smuggled in as file bytes, no hard link
 * out of the tree, no "/" entry, nothing below a symbolic link.
 */
import { PassThrough, Readable } from 'node:stream';

import { chunkLength, encodeFrame, END_FRAME, type Frame } from '../../src/lxc/file-frames';
import { type FilesHost, pullTar } from '../../src/lxc/files';

const file = (o: Partial<Frame>): Frame => ({ type: 'file', path: 'a', link: '', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, ...o });
const data = (bytes: Buffer) => Buffer.concat([chunkLength(bytes.length), bytes, chunkLength(0)]);

/** A FilesHost whose program writes `output` (then ends it, or not), says `stderr` and exits with `exitCode`. */
function fakeProgram(output: Buffer, o: { exitCode?: number; stderr?: string; endOutput?: boolean } = {}): FilesHost & { killed: boolean } {
  const host = {
    name: 'fake',
    killed: false,
    spawnFilesProgram: async () => {
      const stdout = new PassThrough();
      stdout.write(output);
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
async function readTar(out: Readable): Promise<{ names: string[]; error: string | null; bytes: number }> {
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
  extract.on('entry', (h, s, next) => {
    names.push(`${h.type}:${h.name}${h.linkname ? ` -> ${h.linkname}` : ''}`);
    s.resume();
    next();
  });
  extract.on('error', () => undefined);
  extract.end(Buffer.concat(chunks));
  await new Promise((r) => setImmediate(r));
  return { names, error, bytes: Buffer.concat(chunks).length };
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

test("bytes beyond a file frame's size (a tar header of the container's own) end the stream before they reach the caller", async () => {
  const forged = Buffer.alloc(1024);
  forged.write('../../../../tmp/pwned', 0);
  const host = fakeProgram(Buffer.concat([encodeFrame(file({ size: 0 })), data(forged), END_FRAME]));
  const got = await readTar(await pullTar(host, '/x'));
  expect(got.error).toMatch(/malformed chunk/);
  expect(got.names.some((n) => n.includes('pwned'))).toBe(false);
  expect(got.bytes).toBeLessThan(1024);
  expect(host.killed).toBe(true);
});

test('a file shorter than its frame said fails instead of a tar the reader takes as whole', async () => {
  const host = fakeProgram(Buffer.concat([encodeFrame(file({ size: 10 })), data(Buffer.from('abc')), END_FRAME]));
  const got = await readTar(await pullTar(host, '/x'));
  expect(got.error).toMatch(/short of its size/);
});

test('a hard link out of the tree, an empty name, and an entry below a symbolic link are refused', async () => {
  const cases: Buffer[] = [
    encodeFrame(file({ type: 'link', path: 'b', link: '../../../../etc/shadow' })),
    encodeFrame(file({ type: 'link', path: 'b', link: '/etc/passwd' })),
    encodeFrame(file({ type: 'directory', path: '' })),
    Buffer.concat([
      encodeFrame(file({ type: 'symlink', path: 'etc', link: '/etc' })),
      encodeFrame(file({ path: 'etc/passwd', size: 1 })),
      data(Buffer.from('x')),
    ]),
  ];
  for (const frames of cases) {
    const got = await readTar(await pullTar(fakeProgram(Buffer.concat([frames, END_FRAME])), '/x'));
    expect(got.error).toMatch(/malformed frame/);
    expect(got.names.filter((n) => n.includes('shadow') || n.includes('passwd') || n === 'directory:/')).toEqual([]);
  }
});

test('a program that dies halfway through a file fails the stream with its words, escaped, and crashes nothing', async () => {
  const host = fakeProgram(Buffer.concat([encodeFrame(file({ size: 100 })), chunkLength(10), Buffer.alloc(10)]), {
    exitCode: 1,
    stderr: 'lxcts-files: a: Input/output error\x1b]52;c;bWFsbG9yeQ==\x07\n',
  });
  const got = await readTar(await pullTar(host, '/x'));
  expect(got.error).toContain('a: Input/output error');
  // eslint-disable-next-line no-control-regex
  expect(got.error).not.toMatch(/[\x00-\x1f]/);
});

test('a reader that goes away in the middle of a file stops the program and crashes nothing', async () => {
  const host = fakeProgram(Buffer.concat([encodeFrame(file({ size: 1 << 20 })), chunkLength(65536), Buffer.alloc(65536)]), { endOutput: false });
  const out = await pullTar(host, '/x');
  out.once('data', () => out.destroy());
  await new Promise((r) => out.once('close', r));
  await new Promise((r) => setTimeout(r, 50));
  expect(out.destroyed).toBe(true);
});

test('what a well-formed program sends still reads back whole', async () => {
  const host = fakeProgram(
    Buffer.concat([
      encodeFrame(file({ type: 'directory', path: 'x' })),
      encodeFrame(file({ path: 'x/a', size: 3 })),
      data(Buffer.from('abc')),
      encodeFrame(file({ type: 'link', path: 'x/b', link: 'x/a' })),
      encodeFrame(file({ type: 'symlink', path: 'x/c', link: '/etc' })),
      END_FRAME,
    ]),
  );
  const out = await pullTar(host, '/x');
  const got = await readTar(out);
  expect(got.error).toBeNull();
  expect(got.names).toEqual(['directory:x/', 'file:x/a', 'link:x/b -> x/a', 'symlink:x/c -> /etc']);
});
