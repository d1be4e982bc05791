/**
 * The publisher on its own, on temporary directories: what a hostile workspace can and
 * cannot get published, where branch pointers point, and what fails the build.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { decodePointerName, encodePointerName } from '../src/ci/pointer-name';
import { publish, PublishSpec } from '../src/ci/publish';
import { buildRequestSchema, toBuildMessage } from '../src/ci/push-event';
import { failureOf } from './helpers/sandbox';
import { TestRepo } from './helpers/repo';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-publish-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  fs.rmSync(root, { recursive: true, force: true });
});

let seq = 0;
/** A fresh workspace and data roots; `files` maps relative paths to contents. */
function setup(files: Record<string, string> = {}) {
  const dir = path.join(root, `case-${seq++}`);
  const workspace = path.join(dir, 'workspace');
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(workspace, file)), { recursive: true });
    fs.writeFileSync(path.join(workspace, file), text);
  }
  fs.mkdirSync(workspace, { recursive: true });
  const spec = (over: Partial<PublishSpec> = {}): PublishSpec => ({
    binariesRoot: path.join(dir, 'binaries'),
    docsRoot: path.join(dir, 'docs'),
    repo: 'o/r',
    commit: 'a'.repeat(40),
    version: 'v1',
    branch: null,
    workspace,
    mirror: '/nonexistent',
    buildId: seq++,
    requestedAt: 1,
    forced: false,
    ...over,
  });
  return { dir, workspace, spec, binaries: path.join(dir, 'binaries', 'o', 'r'), docs: path.join(dir, 'docs', 'o', 'r') };
}

/** A file only root may read, holding a unique marker: what an attacker wants published. */
function hostSecret(): { file: string; dir: string; marker: string } {
  const dir = fs.mkdtempSync(path.join(root, 'secret-'));
  fs.chmodSync(dir, 0o700);
  const marker = `HOST-SECRET-${randomBytes(12).toString('hex')}`;
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, `${marker}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'index.html'), `${marker}\n`, { mode: 0o600 });
  return { file, dir, marker };
}

/** Every file below `dir` (not following links) that contains `marker`. */
function filesContaining(dir: string, marker: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesContaining(full, marker);
    return entry.isFile() && fs.readFileSync(full, 'utf8').includes(marker) ? [full] : [];
  });
}

const modeOf = (file: string) => fs.lstatSync(file).mode & 0o7777;

describe('collecting from a hostile workspace', () => {
  test('no host byte is published while a flipper swaps a file and a directory for links to a root-only host file (1,000 tries)', async () => {
    const secret = hostSecret();
    const { workspace, spec, binaries, docs } = setup({ 'out/f': 'safe\n', 'site/index.html': 'site\n' });
    // The flipper is another process, so it runs while publish() reads: out/f flips between
    // a regular file and a link to the secret, site/ between a directory and a link to the
    // secret's directory (whose index.html holds the marker).
    const flipper = spawn(
      process.execPath,
      [
        '-e',
        `
      const fs = require('fs');
      const [ws, secretFile, secretDir] = process.argv.slice(1);
      for (let i = 0; ; i++) {
        try {
          fs.writeFileSync(ws + '/out/f.t', 'safe\\n'); fs.renameSync(ws + '/out/f.t', ws + '/out/f');
          fs.symlinkSync(secretFile, ws + '/out/f.l'); fs.renameSync(ws + '/out/f.l', ws + '/out/f');
          fs.mkdirSync(ws + '/site.d', { recursive: true }); fs.writeFileSync(ws + '/site.d/index.html', 'site\\n');
          fs.rmSync(ws + '/site', { recursive: true, force: true }); fs.renameSync(ws + '/site.d', ws + '/site');
          fs.symlinkSync(secretDir, ws + '/site.l'); fs.rmSync(ws + '/site', { recursive: true, force: true }); fs.renameSync(ws + '/site.l', ws + '/site');
        } catch {}
      }`,
        workspace,
        secret.file,
        secret.dir,
      ],
      { stdio: 'ignore' },
    );
    children.push(flipper);
    let published = 0;
    let refused = 0;
    let docsPublished = 0;
    try {
      // At least 1,000 tries, and on until each state has been seen (the scheduler decides how
      // the two processes interleave, so a short run can miss one), within the test's time.
      const deadline = Date.now() + 120_000;
      for (let i = 0; i < 1000 || ((published === 0 || refused === 0 || docsPublished === 0) && Date.now() < deadline); i++) {
        const result = await publish(spec({ artifacts: [{ path: 'out/*', required: false }], docs: 'site', buildId: 10_000 + i })).catch(
          (err: { code?: string }) => {
            // The docs directory was a link at that moment: the build's mistake, nothing published.
            if (err.code === 'USER_FAILURE') return null;
            throw err;
          },
        );
        if (result?.artifacts.includes('out/f')) published++;
        if (result?.notes.some((n) => n.startsWith('not published: out/f'))) refused++;
        if (result?.docsDir) docsPublished++;
        expect(filesContaining(binaries, secret.marker)).toEqual([]);
        expect(filesContaining(docs, secret.marker)).toEqual([]);
      }
    } finally {
      flipper.kill('SIGKILL');
    }
    // The race really ran: both states of out/f were seen, and docs got through at least once.
    expect(published).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    expect(docsPublished).toBeGreaterThan(0);
  }, 240_000);

  test('setuid, setgid and sticky bits are stripped from artifacts and docs; modes become 0755 or 0644', async () => {
    const { workspace, spec, binaries, docs } = setup({ 'bin/suid': '#!/bin/sh\n', 'bin/sgid': 'x', 'bin/open': 'x', 'site/tool': 'x', 'site/page.html': 'x' });
    fs.chmodSync(path.join(workspace, 'bin/suid'), 0o4755);
    fs.chmodSync(path.join(workspace, 'bin/sgid'), 0o2777);
    fs.chmodSync(path.join(workspace, 'bin/open'), 0o1666);
    fs.chmodSync(path.join(workspace, 'site/tool'), 0o4755);
    fs.chmodSync(path.join(workspace, 'site/page.html'), 0o6666);
    const result = await publish(spec({ artifacts: [{ path: 'bin/*', required: true }], docs: 'site' }));
    expect(result.artifacts).toEqual(['bin/open', 'bin/sgid', 'bin/suid']);
    const version = path.join(binaries, 'a'.repeat(40));
    expect([modeOf(path.join(version, 'bin/suid')), modeOf(path.join(version, 'bin/sgid')), modeOf(path.join(version, 'bin/open'))]).toEqual([
      0o755, 0o755, 0o644,
    ]);
    expect([modeOf(path.join(result.docsDir!, 'tool')), modeOf(path.join(result.docsDir!, 'page.html'))]).toEqual([0o755, 0o644]);
    // The directories are readable by a web server, as the files are.
    expect([modeOf(fs.realpathSync(version)), modeOf(path.join(fs.realpathSync(version), 'bin')), modeOf(result.docsDir!)]).toEqual([0o755, 0o755, 0o755]);
    expect(fs.existsSync(docs)).toBe(true);
    // SHA256SUMS was computed from what was written.
    expect(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: version, encoding: 'utf8' })).toBe('bin/open: OK\nbin/sgid: OK\nbin/suid: OK\n');
  });

  test('symbolic links, hard links and special files are not published, each with a note', async () => {
    const secret = hostSecret();
    const { workspace, spec } = setup({ 'out/ok': 'ok\n', 'site/index.html': 'site\n' });
    fs.symlinkSync(secret.file, path.join(workspace, 'out/link'));
    fs.symlinkSync(secret.dir, path.join(workspace, 'out/dirlink'));
    fs.linkSync(secret.file, path.join(workspace, 'out/hard'));
    execFileSync('mkfifo', [path.join(workspace, 'out/fifo')]);
    fs.symlinkSync(secret.file, path.join(workspace, 'site/link.html'));
    fs.linkSync(path.join(secret.dir, 'index.html'), path.join(workspace, 'site/hard.html'));
    const result = await publish(spec({ artifacts: [{ path: 'out/**', required: false }], docs: 'site' }));
    expect(result.artifacts).toEqual(['out/ok']);
    expect(result.notes.sort()).toEqual([
      'not published: out/dirlink: a symbolic link: not published',
      'not published: out/fifo: not a regular file: not published',
      'not published: out/hard: has 2 hard links (one may be outside the workspace): not published',
      'not published: out/link: a symbolic link: not published',
      'not published: site/hard.html: has 2 hard links (one may be outside the workspace): not published',
      'not published: site/link.html: a symbolic link: not published',
    ]);
    expect(fs.readdirSync(result.docsDir!)).toEqual(['index.html']);
  });

  test('a file name with a newline cannot add a line to SHA256SUMS', async () => {
    const { spec, binaries } = setup({ 'bin/a': 'a', [`bin/x\n${'0'.repeat(64)}  a`]: 'x', 'bin/back\\slash': 'b' });
    const result = await publish(spec({ artifacts: [{ path: 'bin/*', required: true }] }));
    expect(result.artifacts).toHaveLength(3);
    const version = path.join(binaries, 'a'.repeat(40));
    const sums = fs.readFileSync(path.join(version, 'SHA256SUMS'), 'utf8');
    expect(sums.split('\n').filter(Boolean)).toHaveLength(3);
    expect(sums).not.toMatch(/^0{64}/m);
    expect(execFileSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: version, encoding: 'utf8' }).split('\n').filter(Boolean)).toHaveLength(3);
  });

  test('an artifact under a linked directory is not reached through the link', async () => {
    const secret = hostSecret();
    const { workspace, spec } = setup({ keep: 'x' });
    fs.symlinkSync(secret.dir, path.join(workspace, 'out'));
    const result = await publish(
      spec({
        artifacts: [
          { path: 'out/f', required: false },
          { path: 'out/*', required: false },
        ],
      }),
    );
    expect(result.artifacts).toEqual([]);
    const failure = await failureOf(publish(spec({ artifacts: [{ path: 'out/f', required: true }] })));
    expect(failure.code).toBe('USER_FAILURE');
  });
});

test('a tree deeper than the walk goes is cut there with a note, not an error', async () => {
  const deep = Array.from({ length: 100 }, () => 'd').join('/');
  const { spec } = setup({ 'site/index.html': 'x', [`site/${deep}/f`]: 'x' });
  const result = await publish(spec({ docs: 'site' }));
  expect(fs.readFileSync(path.join(result.docsDir!, 'index.html'), 'utf8')).toBe('x');
  expect(result.notes).toEqual([`not published: site/${Array.from({ length: 64 }, () => 'd').join('/')}: more than 64 directories deep: not published`]);
});

describe("the user's mistakes fail the build and publish nothing", () => {
  test('a docs directory the build did not produce', async () => {
    const { spec, binaries, docs } = setup({ 'bin/a': 'a' });
    const failure = await failureOf(publish(spec({ artifacts: [{ path: 'bin/*', required: false }], docs: 'site/' })));
    expect([failure.code, failure.message]).toEqual(['USER_FAILURE', 'the docs directory "site/" was not produced by the build']);
    // Collected first, published after: the binaries of the failed build are not published either.
    expect(fs.readdirSync(path.join(binaries, '.versions'))).toEqual([]);
    expect(fs.readdirSync(path.join(docs, '.versions'))).toEqual([]);
  });

  test('a docs "directory" that is a link or a file', async () => {
    const { workspace, spec } = setup({ 'site.txt': 'x' });
    fs.symlinkSync('/etc', path.join(workspace, 'site'));
    const link = await failureOf(publish(spec({ docs: 'site' })));
    expect([link.code, link.message]).toEqual([
      'USER_FAILURE',
      'the docs directory "site" is not a directory the build produced (a symbolic link: not published)',
    ]);
    const file = await failureOf(publish(spec({ docs: 'site.txt' })));
    expect([file.code, file.message]).toEqual(['USER_FAILURE', 'the docs directory "site.txt" is not a directory the build produced (not a directory)']);
  });

  test('a required artifact glob that matches nothing; an optional one is fine', async () => {
    const { workspace, spec, binaries } = setup({ 'bin/a': 'a' });
    fs.symlinkSync('/etc/passwd', path.join(workspace, 'bin/b.so'));
    const optional = await publish(
      spec({
        artifacts: [
          { path: 'bin/*', required: false },
          { path: 'lib/*.so', required: false },
        ],
      }),
    );
    expect(optional.artifacts).toEqual(['bin/a']);
    const failure = await failureOf(
      publish(
        spec({
          commit: 'b'.repeat(40),
          artifacts: [
            { path: 'bin/*', required: true },
            { path: '**/*.so', required: true },
          ],
        }),
      ),
    );
    expect([failure.code, failure.message]).toEqual([
      'USER_FAILURE',
      'the required artifact "**/*.so" matched no file that could be published (bin/b.so: a symbolic link: not published)',
    ]);
    expect(fs.existsSync(path.join(binaries, 'b'.repeat(40)))).toBe(false);
    // A staging directory left by a publisher that died goes at the next publish.
    fs.mkdirSync(path.join(binaries, '.versions', '.staging-left-by-a-crash'));
    await publish(spec({ artifacts: [{ path: 'bin/*', required: false }] }));
    expect(fs.readdirSync(path.join(binaries, '.versions')).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});

describe('branch pointers', () => {
  test('branch names map to distinct, reversible path components', () => {
    const cases: Array<[string, string]> = [
      ['main', 'main'],
      ['feature/x', 'feature%2Fx'],
      ['feature-x', 'feature-x'],
      ['release-1.2', 'release-1.2'],
      ['.hidden', '%2Ehidden'],
      ['a%2Fb', 'a%252Fb'],
      ['café/ü', 'caf%C3%A9%2F%C3%BC'],
      ['0123456789abcdef0123456789abcdef01234567', '%30123456789abcdef0123456789abcdef01234567'],
    ];
    for (const [branch, name] of cases) {
      expect(encodePointerName(branch)).toBe(name);
      expect(decodePointerName(name)).toBe(branch);
    }
    for (const bad of ['.x', 'a/b', '%2f', '%zz', '', 'a%2', '%C3']) expect(() => decodePointerName(bad)).toThrow(/not a pointer name/);
    expect(() => encodePointerName('x'.repeat(300))).toThrow(/too long/);
  });

  test('feature/x and feature-x get their own pointers', async () => {
    const repo = TestRepo.create(path.join(root, 'repo-names'), 'jobs:\n  a:\n    steps: [true]\n');
    const one = repo.git('rev-parse', 'HEAD');
    const two = repo.commit('two');
    const { spec, binaries } = setup({ 'bin/a': 'a' });
    const mirror = path.join(repo.dir, '.git');
    await publish(spec({ mirror, commit: one, branch: 'feature/x', artifacts: [{ path: 'bin/*', required: true }] }));
    await publish(spec({ mirror, commit: two, branch: 'feature-x', artifacts: [{ path: 'bin/*', required: true }] }));
    expect(fs.readlinkSync(path.join(binaries, 'feature%2Fx'))).toBe(one);
    expect(fs.readlinkSync(path.join(binaries, 'feature-x'))).toBe(two);
  });

  describe('force-pushes', () => {
    // a ← b on main; c rewrites history (not a descendant of b).
    let a: string;
    let b: string;
    let c: string;
    let mirror: string;
    beforeAll(() => {
      const repo = TestRepo.create(path.join(root, 'repo-forced'), 'jobs:\n  a:\n    steps: [true]\n');
      a = repo.git('rev-parse', 'HEAD');
      b = repo.commit('b');
      repo.git('checkout', '-q', '--orphan', 'rewritten');
      c = repo.commit('c');
      mirror = path.join(repo.dir, '.git');
    });

    const pointers = (binaries: string, docs: string) => [
      fs.readlinkSync(path.join(binaries, 'main')),
      path.basename(fs.readlinkSync(path.join(docs, 'main'))).split('-')[0],
    ];

    test('a forced push moves the pointers to a head that does not descend; an unforced one does not', async () => {
      const { spec, binaries, docs } = setup({ 'bin/x': 'x', 'site/index.html': 'x' });
      const job = { mirror, branch: 'main', artifacts: [{ path: 'bin/*', required: true }], docs: 'site' };
      await publish(spec({ ...job, commit: a, requestedAt: 100 }));
      await publish(spec({ ...job, commit: b, requestedAt: 200 }));
      expect(pointers(binaries, docs)).toEqual([b, b]);
      const unforced = await publish(spec({ ...job, commit: c, requestedAt: 300 }));
      expect(pointers(binaries, docs)).toEqual([b, b]);
      expect(unforced.notes).toContain(
        `the binaries pointer of main did not move: ${c.slice(0, 12)} does not descend from ${b.slice(0, 12)} and the push was not forced`,
      );
      await publish(spec({ ...job, commit: c, requestedAt: 400, forced: true }));
      expect(pointers(binaries, docs)).toEqual([c, c]);
      // The site of b went once nothing pointed at it.
      expect(fs.readdirSync(path.join(docs, '.versions')).filter((v) => v.startsWith(b))).toEqual([]);
    });

    test('an older request finishing late never moves a pointer back, also after a force-push and when itself forced', async () => {
      const { spec, binaries, docs } = setup({ 'bin/x': 'x', 'site/index.html': 'x' });
      const job = { mirror, branch: 'main', artifacts: [{ path: 'bin/*', required: true }], docs: 'site' };
      // b pushed at 200, then force-pushed to c at 300; c finishes first.
      await publish(spec({ ...job, commit: c, requestedAt: 300, forced: true }));
      const late = await publish(spec({ ...job, commit: b, requestedAt: 200, forced: true }));
      expect(pointers(binaries, docs)).toEqual([c, c]);
      expect(late.notes.join('\n')).toMatch(/binaries pointer of main did not move: build \d+, requested later, already set it to/);
      // Even a descendant requested earlier does not win over a later request.
      await publish(spec({ ...job, commit: b, requestedAt: 500, forced: true }));
      await publish(spec({ ...job, commit: b, requestedAt: 600 }));
      await publish(spec({ ...job, commit: a, requestedAt: 550, forced: true }));
      expect(pointers(binaries, docs)).toEqual([b, b]);
      // The record beside the pointer says who set it.
      expect(JSON.parse(fs.readFileSync(path.join(binaries, '.main.pointer'), 'utf8'))).toMatchObject({ commit: b, requestedAt: 600 });
    });
  });

  test('a push event carries forced to the NSQ message; messages without it still parse', () => {
    const payload = {
      ref: 'refs/heads/main',
      before: 'b'.repeat(40),
      after: 'c'.repeat(40),
      forced: true,
      repository: { full_name: 'o/r', clone_url: 'https://example.com/o/r.git' },
    };
    const outcome = toBuildMessage('push', 'd1', payload, 5);
    expect('build' in outcome && outcome.build.forced).toBe(true);
    const plain = toBuildMessage('push', 'd2', { ...payload, forced: undefined }, 5);
    expect('build' in plain && plain.build.forced).toBe(false);
    const old = {
      kind: 'push',
      delivery: 'd',
      repo: 'o/r',
      cloneUrl: 'https://example.com/o/r.git',
      ref: 'refs/heads/main',
      before: 'b'.repeat(40),
      after: 'c'.repeat(40),
      pusher: 'p',
      receivedAt: 1,
    };
    expect(buildRequestSchema.parse(old).forced ?? false).toBe(false);
    expect(buildRequestSchema.parse(JSON.parse(JSON.stringify('build' in outcome ? outcome.build : {}))).forced).toBe(true);
  });
});
