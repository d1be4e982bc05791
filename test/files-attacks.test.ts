/**
 * Files in and out cannot reach the host, nor leave the destination: links planted in the
 * container's rootfs, tar entries with "..", absolute link targets and hard links to
 * outside, against a real container; and the in-container program's own refusals, with
 * nothing in front of it (frames and tar streams crafted here, run on a scratch directory
 * of the host).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import * as tarStream from 'tar-stream';

import { Container } from '../src';
import { chunkLength, encodeFrame, END_FRAME, Frame } from '../src/lxc/file-frames';
import { FILES_PROGRAM } from './helpers/local-files-host';
import { failureOf, Sandbox } from './helpers/sandbox';
import { END, entry, header, pax } from './helpers/tar-craft';
import { spawnSync } from 'node:child_process';

const sandbox = new Sandbox('files-attacks');
let c: Container;
let hostDir: string;
let rootfs: string;

const sh = (script: string) => ['/bin/sh', '-c', script];
const run = async (script: string) => (await c.exec(sh(script))).stdout.toString();

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('attacks'));
  await c.start();
  rootfs = path.join(sandbox.lxcpath, c.name, 'rootfs');
  // A directory of the host that the container must never see into: its path exists on
  // the host only, and it holds a secret.
  hostDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-files-hostonly-'));
  fs.writeFileSync(path.join(hostDir, 'secret'), 'host secret\n');
});
afterAll(async () => {
  fs.rmSync(hostDir, { recursive: true, force: true });
  await sandbox.cleanup();
});

function tarOf(entries: Array<{ name: string; type?: 'file' | 'symlink' | 'link' | 'directory'; data?: string; linkname?: string }>): Readable {
  const pack = tarStream.pack();
  for (const { data, ...header } of entries) pack.entry({ type: 'file', mode: 0o644, ...header }, data ?? '');
  pack.finalize();
  return Readable.from(pack);
}

describe('links planted in the container rootfs', () => {
  beforeAll(async () => {
    const depth = '../'.repeat(12);
    await run(
      ['ln -s /etc /tmp/to-etc', `ln -s ${hostDir} /tmp/to-host-abs`, `ln -s ${depth}${hostDir.slice(1)} /tmp/to-host-rel`, `ln -s ${depth} /tmp/to-up`].join(
        '; ',
      ),
    );
  });

  test('a push through a link to /etc writes the container /etc, never the host one', async () => {
    await c.pushFile(Readable.from(['planted\n']), '/tmp/to-etc/lxcts-planted');
    expect(await run('cat /etc/lxcts-planted')).toBe('planted\n');
    expect(fs.existsSync('/etc/lxcts-planted')).toBe(false);
  });

  test('links to a host path (absolute, or climbing out with ..) lead nowhere: pushes and pulls fail, the host directory is untouched', async () => {
    for (const link of ['/tmp/to-host-abs', '/tmp/to-host-rel']) {
      expect((await failureOf(c.pushFile(Readable.from(['evil']), `${link}/evil`))).code).toBe('LXC_FILE_FAILED');
      expect((await failureOf(c.pullFile(`${link}/secret`).then(buffer))).code).toBe('LXC_FILE_FAILED');
      expect((await failureOf(c.pullTar(link).then(buffer))).code).toBe('LXC_FILE_FAILED');
      expect((await failureOf(c.pushTar(tarOf([{ name: 'evil', data: 'x' }]), `${link}/sub`))).code).toBe('LXC_FILE_FAILED');
    }
    expect(fs.readdirSync(hostDir)).toEqual(['secret']);
  });

  test('a link climbing to the top stops at the container root: what is pulled is the container own', async () => {
    // /tmp/to-up resolves to the container's "/", whatever the number of "..".
    expect((await buffer(await c.pullFile('/tmp/to-up/etc/passwd'))).toString()).toBe(fs.readFileSync(path.join(rootfs, 'etc', 'passwd'), 'utf8'));
    await c.pushFile(Readable.from(['up\n']), '/tmp/to-up/tmp/landed');
    expect(fs.readFileSync(path.join(rootfs, 'tmp', 'landed'), 'utf8')).toBe('up\n');
  });
});

describe('names the container makes too long for a frame', () => {
  test('a path over 4096 bytes, planted by anyone who can write in the tree, is skipped with a warning: the rest of the pull reads whole', async () => {
    const part = 'd'.repeat(250);
    await run(`mkdir -p /tmp/long && cd /tmp/long && echo ok > first && for i in $(seq 18); do mkdir ${part} && cd ${part}; done && echo deep > deep`);
    // Node's rmSync (the sandbox's cleanup) and busybox fail on paths longer than PATH_MAX; GNU rm walks by descriptors.
    const removeLong = () => spawnSync('rm', ['-rf', path.join(rootfs, 'tmp', 'long')]);
    let tar: Buffer;
    try {
      tar = await buffer(await c.pullTar('/tmp/long'));
    } finally {
      removeLong();
    }
    const names: string[] = [];
    const extract = tarStream.extract();
    extract.on('entry', (h, stream, next) => {
      names.push(h.name);
      stream.resume();
      next();
    });
    await new Promise<void>((resolve, reject) => {
      extract.on('finish', resolve);
      extract.on('error', reject);
      extract.end(tar);
    });
    expect(names).toContain('long/first');
    expect(names.some((n) => n.endsWith('/deep'))).toBe(false);
    expect(Math.max(...names.map((n) => n.length))).toBeLessThanOrEqual(4096);
  });
});

describe('hostile tar streams', () => {
  test('an entry with ".." is refused and nothing lands outside the destination', async () => {
    const err = await failureOf(
      c.pushTar(
        tarOf([
          { name: 'ok', data: 'fine' },
          { name: '../../escaped', data: 'x' },
        ]),
        '/tmp/dest1',
      ),
    );
    expect(err.code).toBe('LXC_FILE_REFUSED');
    expect(await run('ls /tmp/dest1; ls / /tmp | grep -c escaped')).toBe('ok\n0\n');
  });

  test('an absolute entry name is refused', async () => {
    expect((await failureOf(c.pushTar(tarOf([{ name: '/etc/evil', data: 'x' }]), '/tmp/dest2'))).code).toBe('LXC_FILE_REFUSED');
    expect((await c.exec(['test', '-e', '/etc/evil'])).exitCode).toBe(1);
  });

  test('an absolute symlink target is written as a link, and never followed by a later entry', async () => {
    const err = await failureOf(
      c.pushTar(
        tarOf([
          { name: 'etc-link', type: 'symlink', linkname: '/etc' },
          { name: 'etc-link/evil', data: 'x' },
        ]),
        '/tmp/dest3',
      ),
    );
    expect(err.code).toBe('LXC_FILE_REFUSED');
    expect(err.message).toContain('not followed');
    expect(await run('readlink /tmp/dest3/etc-link; test -e /etc/evil || echo absent')).toBe('/etc\nabsent\n');
    expect(fs.existsSync('/etc/evil')).toBe(false);
  });

  test('a relative symlink climbing out is not followed either', async () => {
    const err = await failureOf(
      c.pushTar(
        tarOf([
          { name: 'up', type: 'symlink', linkname: '../../../../../..' },
          { name: 'up/tmp/evil', data: 'x' },
        ]),
        '/tmp/dest4',
      ),
    );
    expect(err.code).toBe('LXC_FILE_REFUSED');
    expect((await c.exec(['test', '-e', '/tmp/evil'])).exitCode).toBe(1);
  });

  test('a hard link to outside the tree is refused', async () => {
    for (const linkname of ['../../etc/shadow', '/etc/shadow']) {
      const err = await failureOf(c.pushTar(tarOf([{ name: 'shadow', type: 'link', linkname }]), '/tmp/dest5'));
      expect(err.code).toBe('LXC_FILE_REFUSED');
    }
    expect((await c.exec(['test', '-e', '/tmp/dest5/shadow'])).exitCode).toBe(1);
  });
});

describe('lxcts-files itself refuses, whatever sends it frames', () => {
  let dir: string;
  let outside: string;
  beforeEach(() => {
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-files-prog-'));
    dir = path.join(outside, 'dest');
    fs.mkdirSync(dir);
    fs.symlinkSync(outside, path.join(dir, 'out-link'));
  });
  afterEach(() => fs.rmSync(outside, { recursive: true, force: true }));

  const frame = (f: Partial<Frame> & Pick<Frame, 'type' | 'path'>) => encodeFrame({ link: '', mode: 0o644, uid: -1, gid: -1, mtime: -1, size: 0, ...f });
  const file = (p: string) => Buffer.concat([frame({ type: 'file', path: p }), chunkLength(1), Buffer.from('x'), chunkLength(0)]);
  const put = (input: Buffer) => spawnSync(FILES_PROGRAM, ['put', dir], { input, encoding: 'utf8' });

  test.each([
    ['a ".." part', file('../escaped')],
    ['an absolute path', file('/tmp/lxcts-files-absolute-escape')],
    ['a path through a link', file('out-link/escaped')],
    ['a hard link to outside', frame({ type: 'link', path: 'hard', link: '../escaped-target' })],
    ['a hard link through a link', frame({ type: 'link', path: 'hard', link: 'out-link/target' })],
  ])('%s', (_what, input) => {
    fs.writeFileSync(path.join(outside, 'escaped-target'), 'target');
    fs.writeFileSync(path.join(outside, 'target'), 'target');
    const r = put(Buffer.concat([input, END_FRAME]));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/refused|not followed/);
    expect(fs.readdirSync(outside).sort()).toEqual(['dest', 'escaped-target', 'target']);
    expect(fs.readdirSync(dir)).toEqual(['out-link']);
    expect(fs.existsSync('/tmp/lxcts-files-absolute-escape')).toBe(false);
  });

  test('a malformed or cut stream stops it with a failure', () => {
    for (const input of [Buffer.from('not frames at all, just text long enough for a header.....'), file('ok').subarray(0, 60)]) {
      const r = put(input);
      expect(r.status).toBe(1);
    }
    expect(fs.readdirSync(outside)).toEqual(['dest']);
  });
});

describe('lxcts-files untar refuses, whatever tar it is given', () => {
  let dir: string;
  let outside: string;
  beforeEach(() => {
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-files-untar-'));
    dir = path.join(outside, 'dest');
    fs.mkdirSync(dir);
    fs.symlinkSync(outside, path.join(dir, 'out-link'));
  });
  afterEach(() => fs.rmSync(outside, { recursive: true, force: true }));

  const untar = (input: Buffer) => spawnSync(FILES_PROGRAM, ['untar', dir], { input, encoding: 'utf8' });
  const x = Buffer.from('x');

  test.each([
    ['a ".." name', entry({ name: '../escaped' }, x), /refused/],
    ['an absolute name', entry({ name: '/tmp/lxcts-untar-absolute-escape' }, x), /refused/],
    ['a pax path override with ".."', Buffer.concat([pax({ path: 'a/../../escaped' }), entry({ name: 'innocent' }, x)]), /refused/],
    [
      'a GNU long name with ".."',
      Buffer.concat([entry({ name: '././@LongLink', type: 'L' }, Buffer.from('../escaped\0')), entry({ name: 'innocent' }, x)]),
      /refused/,
    ],
    [
      'a huge pax record',
      Buffer.concat([header({ name: 'PaxHeader', type: 'x', size: 64 * 1024 * 1024 }), Buffer.alloc(1024 * 1024, 0x31)]),
      /refused: an extended header/,
    ],
    ['a pax path over 4096 bytes', Buffer.concat([pax({ path: 'a'.repeat(5000) }), entry({ name: 'a' }, x)]), /refused/],
    [
      'a malformed pax record',
      Buffer.concat([entry({ name: 'PaxHeader', type: 'x' }, Buffer.from('99 path=x\n')), entry({ name: 'a' }, x)]),
      /malformed extended header/,
    ],
    ['a file through a link planted before it', entry({ name: 'out-link/escaped' }, x), /not followed/],
    [
      'a link, then a file through that link',
      Buffer.concat([entry({ name: 'up', type: '2', linkname: '..' }), entry({ name: 'up/escaped' }, x)]),
      /not followed/,
    ],
    ['a hard link to outside', entry({ name: 'hard', type: '1', linkname: '../escaped-target' }), /refused/],
    ['a hard link through a link', entry({ name: 'hard', type: '1', linkname: 'out-link/target' }), /not followed/],
    ['a corrupt header', entry({ name: 'a', badChecksum: true }, x), /bad checksum/],
    ['a malformed size', entry({ name: 'a', sizeField: '0000000000z\0' }), /malformed size/],
  ])('%s', (_what, input, said) => {
    fs.writeFileSync(path.join(outside, 'escaped-target'), 'target');
    fs.writeFileSync(path.join(outside, 'target'), 'target');
    const r = untar(Buffer.concat([input, END]));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(said);
    expect(fs.readdirSync(outside).sort()).toEqual(['dest', 'escaped-target', 'target']);
    expect(fs.readdirSync(dir).filter((n) => n !== 'up')).toEqual(['out-link']);
    expect(fs.existsSync('/tmp/lxcts-untar-absolute-escape')).toBe(false);
  });

  test('a truncated archive fails, and the file it was cut in is not left half written', () => {
    const whole = Buffer.concat([entry({ name: 'first' }, x), entry({ name: 'second' }, Buffer.alloc(100000, 7)), END]);
    // Cut inside the first file, after it, inside the second header, inside the second file, before the end blocks.
    const cuts: Array<[number, string[]]> = [
      [600, []],
      [1024, ['first']],
      [1024 + 300, ['first']],
      [1024 + 512 + 5000, ['first']],
      [1024 + 512 + 100352, ['first', 'second']],
    ];
    for (const [cut, written] of cuts) {
      const r = untar(whole.subarray(0, cut));
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/ended .*\(truncated\)/);
      expect(fs.readdirSync(dir).sort()).toEqual([...written, 'out-link'].sort());
    }
  });

  test('a well-formed archive from GNU tar, long names and all, lands whole; devices and fifos are listed, not made', () => {
    const src = path.join(outside, 'src');
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    fs.mkdirSync(path.join(src, 'd'.repeat(120)), { recursive: true });
    fs.writeFileSync(path.join(src, long), 'long');
    fs.symlinkSync('l'.repeat(200), path.join(src, 'dangling'));
    spawnSync('mkfifo', [path.join(src, 'fifo')]);
    for (const format of ['gnu', 'posix']) {
      const target = path.join(outside, format);
      fs.mkdirSync(target);
      const tar = spawnSync('tar', ['-C', src, `--format=${format}`, '-c', '.'], { maxBuffer: 1 << 20 }).stdout;
      const r = spawnSync(FILES_PROGRAM, ['untar', target], { input: tar, encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(fs.readFileSync(path.join(target, long), 'utf8')).toBe('long');
      expect(fs.readlinkSync(path.join(target, 'dangling'))).toBe('l'.repeat(200));
      expect(fs.existsSync(path.join(target, 'fifo'))).toBe(false);
      expect(r.stdout).toMatch(new RegExp(`^skip 36 ${Buffer.from('./fifo').toString('hex')}$`, 'm'));
      // ".", the directory, the long-named file, the link.
      expect(r.stdout).toMatch(/^entries 4$/m);
    }
  });
});

describe('lxcts-files untar changes what it made, never what a name leads to', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-files-byname-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  // Another user of the container can swap a directory just made for a link (rename with
  // RENAME_EXCHANGE) between two calls: a mode, owner or time set by name that follows links
  // would then change the link's target (/etc/passwd made 0777). The race itself cannot be
  // won on demand, so the calls are listed: each acts on a descriptor or refuses to follow.
  test('modes, owners and times of directories, files and links are set through descriptors or without following', () => {
    const tar = Buffer.concat([
      entry({ name: 'd/', type: '5', mode: 0o750 }),
      entry({ name: 'd/f', mode: 0o640 }, Buffer.from('x')),
      entry({ name: 'd/l', type: '2', linkname: '/etc/passwd' }),
      END,
    ]);
    const r = spawnSync(
      'strace',
      ['-f', '-qq', '-e', 'trace=chmod,fchmodat,chown,lchown,fchownat,utimensat,utime,utimes,futimesat', FILES_PROGRAM, 'untar', dir],
      {
        input: tar,
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(0);
    expect(fs.statSync(path.join(dir, 'd')).mode & 0o7777).toBe(0o750);
    const byName = r.stderr.split('\n').filter((l) => /^(\[pid +\d+\] )?(chmod|fchmodat|chown|fchownat|utimensat|utime|utimes|futimesat)\(/.test(l));
    // utimensat(fd, NULL, ...) is futimens: on the descriptor itself.
    expect(byName.filter((l) => !/AT_SYMLINK_NOFOLLOW/.test(l) && !/^(\[pid +\d+\] )?utimensat\(\d+, NULL,/.test(l))).toEqual([]);
  });
});
