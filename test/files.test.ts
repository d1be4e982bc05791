/**
 * pushFile, pullFile, pushTar and pullTar against real containers: contents, modes, owners
 * (mapped in an unprivileged container), links as links, a container without tar, and large
 * files streamed with bounded memory.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import * as tarStream from 'tar-stream';

import { Container } from '../src';
import { buildIdRange, idmapConfig } from '../src/ci/id-range';
import { shiftOwnership } from '../src/ci/bases';
import { attachHelperPath, native } from '../src/lxc/native';
import { failureOf, Sandbox } from './helpers/sandbox';
import { waitFor } from './helpers/wait';

const sandbox = new Sandbox('files');
let c: Container;
let hostDir: string;

const sh = (script: string) => ['/bin/sh', '-c', script];
const out = async (container: Container, script: string) => {
  const r = await container.exec(sh(script));
  if (r.exitCode !== 0) throw new Error(`${script}: ${r.stderr.toString()}`);
  return r.stdout.toString();
};

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('files'));
  await c.start();
  hostDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-files-host-'));
});
afterAll(async () => {
  fs.rmSync(hostDir, { recursive: true, force: true });
  await sandbox.cleanup();
});

interface TarEntry {
  name: string;
  type: string | null | undefined;
  mode: number;
  uid: number;
  gid: number;
  linkname: string | null | undefined;
  data: Buffer;
}

async function entriesOf(tar: Readable): Promise<Map<string, TarEntry>> {
  const entries = new Map<string, TarEntry>();
  const extract = tarStream.extract();
  tar.pipe(extract);
  for await (const entry of extract) {
    const h = entry.header;
    const data = await buffer(entry as AsyncIterable<Buffer>);
    entries.set(h.name.replace(/\/$/, ''), { name: h.name, type: h.type, mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, linkname: h.linkname, data });
  }
  return entries;
}

function tarOf(
  entries: Array<{
    name: string;
    type?: 'file' | 'directory' | 'symlink' | 'link';
    data?: string;
    linkname?: string;
    mode?: number;
    uid?: number;
    gid?: number;
  }>,
): Readable {
  const pack = tarStream.pack();
  for (const e of entries) {
    const { data, ...header } = e;
    pack.entry({ type: 'file', mode: 0o644, ...header }, data ?? '');
  }
  pack.finalize();
  return Readable.from(pack);
}

describe('pushFile and pullFile', () => {
  test('a host file arrives with its content, the given mode and owner (as ids of the container)', async () => {
    const file = path.join(hostDir, 'conf');
    fs.writeFileSync(file, 'key = value\n');
    await c.pushFile(file, '/tmp/conf', { mode: 0o640, uid: 1000, gid: 50 });
    expect(await out(c, 'cat /tmp/conf')).toBe('key = value\n');
    expect(await out(c, 'stat -c "%a %u %g" /tmp/conf')).toBe('640 1000 50\n');
  });

  test('without options the host file keeps its permission bits and belongs to the container root', async () => {
    const file = path.join(hostDir, 'script');
    fs.writeFileSync(file, '#!/bin/sh\necho ran\n', { mode: 0o750 });
    fs.chmodSync(file, 0o750);
    await c.pushFile(file, '/tmp/script');
    expect(await out(c, 'stat -c "%a %u %g" /tmp/script; /tmp/script')).toBe('750 0 0\nran\n');
  });

  test('a stream is pushed as it comes, and replaces a link at the destination instead of writing through it', async () => {
    await out(c, 'echo keep > /tmp/target; ln -sf /tmp/target /tmp/planted');
    await c.pushFile(Readable.from(['part one, ', 'part two']), '/tmp/planted');
    expect(await out(c, 'cat /tmp/planted; echo; cat /tmp/target; test -L /tmp/planted || echo not-a-link')).toBe('part one, part two\nkeep\nnot-a-link\n');
  });

  test('a host path that is a symbolic link is refused, never followed', async () => {
    const link = path.join(hostDir, 'link-to-shadow');
    fs.symlinkSync('/etc/shadow', link);
    expect((await failureOf(c.pushFile(link, '/tmp/shadow'))).code).toBe('LXC_FILE_REFUSED');
    expect((await c.exec(['test', '-e', '/tmp/shadow'])).exitCode).toBe(1);
  });

  test('pullFile streams the file; a missing one fails with LXC_FILE_FAILED and its reason', async () => {
    await out(c, 'printf "line 1\\nline 2\\n" > /tmp/pulled');
    expect((await buffer(await c.pullFile('/tmp/pulled'))).toString()).toBe('line 1\nline 2\n');
    const err = await failureOf(c.pullFile('/tmp/missing').then(buffer));
    expect(err.code).toBe('LXC_FILE_FAILED');
    expect(err.message).toContain('No such file or directory');
  });

  test('a fifo is neither waited on nor sent: pullFile fails at once, pullTar leaves it out', async () => {
    await out(c, 'mkdir -p /tmp/withfifo && mkfifo /tmp/withfifo/pipe && echo x > /tmp/withfifo/file');
    const err = await failureOf(c.pullFile('/tmp/withfifo/pipe').then(buffer));
    expect(err.code).toBe('LXC_FILE_FAILED');
    expect(err.message).toContain('not a regular file');
    expect([...(await entriesOf(await c.pullTar('/tmp/withfifo'))).keys()].sort()).toEqual(['withfifo', 'withfifo/file']);
  });

  test('the same without the lxcts-attach helper (attached from this process)', async () => {
    native().setAttachHelper(null);
    try {
      await c.pushFile(Readable.from(['in-process\n']), '/tmp/in-process');
      expect((await buffer(await c.pullFile('/tmp/in-process'))).toString()).toBe('in-process\n');
    } finally {
      native().setAttachHelper(attachHelperPath());
    }
  });

  test('bad arguments are refused before anything runs', async () => {
    expect((await failureOf(c.pushFile(Readable.from(['x']), 'relative/path'))).code).toBe('LXC_FILE_REFUSED');
    expect((await failureOf(c.pushFile(Readable.from(['x']), '/tmp/dir/'))).code).toBe('LXC_FILE_REFUSED');
    expect(await failureOf(c.pushFile(Readable.from(['x']), '/tmp/x', { mode: 0o10000 }))).toBeInstanceOf(TypeError);
    expect(await failureOf(c.pushFile(Readable.from(['x']), '/tmp/x', { uid: -1 }))).toBeInstanceOf(TypeError);
    expect(await failureOf(c.pushFile(42 as never, '/tmp/x'))).toBeInstanceOf(TypeError);
  });
});

describe('trees as tar streams', () => {
  test('pushTar then pullTar keeps contents, modes, owners, symbolic links (as links) and hard links', async () => {
    const tar = tarOf([
      { name: 'tree/', type: 'directory', mode: 0o750, uid: 7, gid: 8 },
      { name: 'tree/run.sh', data: 'echo hi\n', mode: 0o4755, uid: 0, gid: 0 },
      { name: 'tree/owned', data: 'mine', mode: 0o600, uid: 1000, gid: 1000 },
      { name: 'tree/empty', data: '' },
      { name: 'tree/sub/deep/file', data: 'deep' },
      { name: 'tree/abs', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'tree/rel', type: 'symlink', linkname: 'sub/deep/file' },
      { name: 'tree/hard', type: 'link', linkname: 'tree/owned' },
    ]);
    const result = await c.pushTar(tar, '/tmp/pushed/here');
    expect(result).toEqual({ entries: 8, skipped: [] });
    expect(await out(c, 'cd /tmp/pushed/here/tree && stat -c "%n %a %u %g %h" . run.sh owned empty && readlink abs && readlink rel && cat hard')).toBe(
      '. 750 7 8 3\nrun.sh 4755 0 0 1\nowned 600 1000 1000 2\nempty 644 0 0 1\n/etc/passwd\nsub/deep/file\nmine',
    );

    // keepSetId: the set-user-id bit comes back only when asked for (cleared by default).
    const back = await entriesOf(await c.pullTar('/tmp/pushed/here/tree', { keepSetId: true }));
    expect([...back.keys()].sort()).toEqual([
      'tree',
      'tree/abs',
      'tree/empty',
      'tree/hard',
      'tree/owned',
      'tree/rel',
      'tree/run.sh',
      'tree/sub',
      'tree/sub/deep',
      'tree/sub/deep/file',
    ]);
    expect(back.get('tree')).toMatchObject({ type: 'directory', mode: 0o750, uid: 7, gid: 8 });
    expect(back.get('tree/run.sh')).toMatchObject({ type: 'file', mode: 0o4755, data: Buffer.from('echo hi\n') });
    expect((await entriesOf(await c.pullTar('/tmp/pushed/here/tree'))).get('tree/run.sh')).toMatchObject({ mode: 0o755 });
    expect(back.get('tree/abs')).toMatchObject({ type: 'symlink', linkname: '/etc/passwd', data: Buffer.alloc(0) });
    expect(back.get('tree/rel')).toMatchObject({ type: 'symlink', linkname: 'sub/deep/file' });
    // One of the two names is the file, the other a link to it (whichever the directory listed first).
    const pair = [back.get('tree/hard'), back.get('tree/owned')];
    expect(pair.map((e) => e?.type).sort()).toEqual(['file', 'link']);
    expect(pair.find((e) => e?.type === 'file')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o600, data: Buffer.from('mine') });
  });

  test('a container without tar (nor any other archiver) takes and gives trees all the same', async () => {
    const bare = await sandbox.busybox(sandbox.name('notar'));
    await bare.start();
    try {
      await out(bare, 'for t in tar cpio gzip; do rm -f "$(which $t)"; done; ! which tar');
      await bare.pushTar(tarOf([{ name: 'd/f', data: 'no tar here' }]), '/root');
      const back = await entriesOf(await bare.pullTar('/root/d'));
      expect(back.get('d/f')?.data.toString()).toBe('no tar here');
    } finally {
      await bare.stop();
    }
  });

  test('devices and fifos in a pushed tar are left out and listed', async () => {
    const pack = tarStream.pack();
    pack.entry({ name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 });
    pack.entry({ name: 'dev/fifo', type: 'fifo' });
    pack.entry({ name: 'dev/real', type: 'file' }, 'x');
    pack.finalize();
    const result = await c.pushTar(Readable.from(pack), '/tmp/devs');
    expect(result).toEqual({
      entries: 1,
      skipped: [
        { name: 'dev/null', type: 'character-device' },
        { name: 'dev/fifo', type: 'fifo' },
      ],
    });
  });
});

describe('an unprivileged container', () => {
  let u: Container;
  let rootfs: string;

  beforeAll(async () => {
    const range = buildIdRange();
    fs.chmodSync(sandbox.lxcpath, 0o755);
    u = await sandbox.busybox(sandbox.name('unpriv'));
    for (const [key, value] of idmapConfig(range)) await u.setConfigItem(key, value);
    await u.saveConfig();
    rootfs = path.join(sandbox.lxcpath, u.name, 'rootfs');
    await shiftOwnership(rootfs, range);
    await u.start();
  });
  afterAll(() => u.stop());

  test('owners written are the container ids, which the host sees mapped', async () => {
    const range = buildIdRange();
    await u.pushFile(Readable.from(['data']), '/tmp/owned', { uid: 1000, gid: 1001 });
    expect(await out(u, 'stat -c "%u %g" /tmp/owned')).toBe('1000 1001\n');
    const st = fs.statSync(path.join(rootfs, 'tmp', 'owned'));
    expect([st.uid, st.gid]).toEqual([range.uid + 1000, range.gid + 1001]);

    await u.pushTar(tarOf([{ name: 't/f', data: 'x', uid: 5, gid: 6 }]), '/tmp/tree');
    const f = fs.statSync(path.join(rootfs, 'tmp', 'tree', 't', 'f'));
    expect([f.uid, f.gid]).toEqual([range.uid + 5, range.gid + 6]);
    const back = await entriesOf(await u.pullTar('/tmp/tree/t'));
    expect(back.get('t/f')).toMatchObject({ uid: 5, gid: 6 });
  });
});

describe('large files', () => {
  const MiB = 1024 * 1024;

  test('a push streams: the file grows in the container before the source has ended', async () => {
    const tmp = path.join(sandbox.lxcpath, c.name, 'rootfs', 'tmp');
    const file = path.join(tmp, 'growing');
    // The file grows under a temporary name beside its own, renamed into place once whole.
    const temporary = () => fs.readdirSync(tmp).filter((n) => n.startsWith('.lxcts-'));
    const chunk = Buffer.alloc(MiB, 7);
    async function* source() {
      for (let i = 0; i < 64; i++) yield chunk;
      // Not one byte more until the first 32 MiB are in the container: a push that
      // buffered its source before sending would wait here forever.
      await waitFor(() => temporary().some((n) => fs.statSync(path.join(tmp, n)).size >= 32 * MiB), 'the first bytes to arrive before the end', {
        seconds: 60,
      });
      expect(fs.existsSync(file)).toBe(false);
      for (let i = 0; i < 64; i++) yield chunk;
    }
    await c.pushFile(Readable.from(source()), '/tmp/growing');
    expect(fs.statSync(file).size).toBe(128 * MiB);
    expect(temporary()).toEqual([]);
  });

  test('a pull of a file larger than any buffer keeps this process within bounded memory, every byte intact', async () => {
    const size = 512;
    const sum = (await out(c, `dd if=/dev/urandom of=/tmp/big bs=1M count=${size} 2>/dev/null && sha256sum /tmp/big`)).split(' ')[0];
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const piece of await c.pullFile('/tmp/big')) {
      hash.update(piece as Buffer);
      bytes += (piece as Buffer).length;
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(bytes).toBe(size * MiB);
    expect(hash.digest('hex')).toBe(sum);
    // Generous for the garbage collector's slack, far below the file's size.
    expect(peak - before).toBeLessThan(192 * MiB);
    await out(c, 'rm /tmp/big /tmp/growing');
  }, 120_000);

  test('a tree with a large file goes out and back in through tar streams without being held in memory', async () => {
    await out(c, 'mkdir -p /tmp/bigtree && dd if=/dev/urandom of=/tmp/bigtree/blob bs=1M count=192 2>/dev/null');
    const sum = await out(c, 'sha256sum < /tmp/bigtree/blob');
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      await c.pushTar(await c.pullTar('/tmp/bigtree'), '/tmp/copied');
    } finally {
      clearInterval(sampler);
    }
    expect(await out(c, 'sha256sum < /tmp/copied/bigtree/blob')).toBe(sum);
    expect(peak - before).toBeLessThan(192 * MiB);
    await out(c, 'rm -r /tmp/bigtree /tmp/copied');
  }, 120_000);
});

describe('a deadline and a cancel', () => {
  const MiB = 1024 * 1024;
  const rootfsTmp = () => path.join(sandbox.lxcpath, c.name, 'rootfs', 'tmp');
  const temporary = () => fs.readdirSync(rootfsTmp()).filter((n) => n.startsWith('.lxcts-'));

  /** Some bytes, then nothing more until the test ends (a source that stalls). */
  function stalling(first: Buffer): Readable {
    const source = new Readable({ read() {} });
    source.push(first);
    return source;
  }

  test('a push that times out fails with LXC_TIMEOUT and leaves the file that was there, no half of the new one', async () => {
    await c.pushFile(Readable.from(['the old content\n']), '/tmp/kept');
    const source = stalling(Buffer.alloc(4 * MiB, 1));
    const err = await failureOf(c.pushFile(source, '/tmp/kept', { timeout: 1 }));
    expect(err.code).toBe('LXC_TIMEOUT');
    expect(source.destroyed).toBe(true);
    expect(fs.readFileSync(path.join(rootfsTmp(), 'kept'), 'utf8')).toBe('the old content\n');
    expect(temporary()).toEqual([]);
  });

  test('an aborted push fails with an AbortError, and neither a half file nor its temporary name is left', async () => {
    const ac = new AbortController();
    const pushing = c.pushFile(stalling(Buffer.alloc(4 * MiB, 1)), '/tmp/aborted', { signal: ac.signal });
    await waitFor(() => temporary().length > 0, 'the push to start writing', { seconds: 30 });
    ac.abort();
    const err = await failureOf(pushing);
    expect(err.name).toBe('AbortError');
    expect(fs.existsSync(path.join(rootfsTmp(), 'aborted'))).toBe(false);
    expect(temporary()).toEqual([]);
  });

  test('an aborted pushTar stops inside a file: that file is not left half written', async () => {
    const ac = new AbortController();
    const pack = tarStream.pack();
    // The push destroys its source when it stops; the pack and its entry then say so.
    pack.on('error', () => undefined);
    pack.entry({ name: 'done', type: 'file' }, 'whole');
    // A header that promises 8 MiB, then only 1 MiB and a stall.
    const entry = pack.entry({ name: 'half', type: 'file', size: 8 * MiB });
    entry.on('error', () => undefined);
    entry.write(Buffer.alloc(MiB, 2));
    const pushing = c.pushTar(Readable.from(pack), '/tmp/tar-aborted', { signal: ac.signal });
    await waitFor(() => temporary().length === 0 && fs.existsSync(path.join(rootfsTmp(), 'tar-aborted', 'done')), 'the first entry', { seconds: 30 });
    await waitFor(() => fs.readdirSync(path.join(rootfsTmp(), 'tar-aborted')).some((n) => n.startsWith('.lxcts-')), 'the second entry to start', {
      seconds: 30,
    });
    ac.abort();
    expect((await failureOf(pushing)).name).toBe('AbortError');
    expect(fs.readdirSync(path.join(rootfsTmp(), 'tar-aborted'))).toEqual(['done']);
  });

  test('pulls that time out or are aborted fail their stream, and the program is stopped', async () => {
    await out(c, 'dd if=/dev/zero of=/tmp/pull-big bs=1M count=64 2>/dev/null');
    const running = async () => (await out(c, 'ps -o comm | grep -c "^lxcts-files" || true')).trim();
    // Nobody reads: the program blocks on a full pipe until the deadline stops it.
    const unread = await c.pullFile('/tmp/pull-big', { timeout: 1 });
    expect(((await failureOf(new Promise((_, reject) => unread.once('error', reject)))) as { code?: string }).code).toBe('LXC_TIMEOUT');
    const ac = new AbortController();
    const tree = await c.pullTar('/tmp/pull-big', { signal: ac.signal });
    await new Promise((r) => tree.once('readable', r));
    ac.abort();
    expect((await failureOf(buffer(tree))).name).toBe('AbortError');
    await waitFor(async () => (await running()) === '0', 'the programs to be gone', { seconds: 10 });
    await out(c, 'rm /tmp/pull-big');
  });

  test('a bad timeout or signal is a TypeError before anything runs', async () => {
    expect(await failureOf(c.pullTar('/tmp', { timeout: -1 }))).toBeInstanceOf(TypeError);
    expect(await failureOf(c.pushTar(Readable.from([]), '/tmp/x', { signal: 'no' as never }))).toBeInstanceOf(TypeError);
  });
});
