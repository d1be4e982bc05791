import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { checkCloneUrl, isPrivateAddress, parseCloneUrl, STRICT_POLICY } from '../src/ci/clone-url';
import { fetchMirror, gitArgv, identify, resolveRevision } from '../src/ci/git';
import { branchProblem, fullNameProblem, isCommitId, localRepository, mirrorPath, refProblem, repositoryOfPath, repositoryPath } from '../src/ci/names';
import { publishMessage } from '../src/ci/nsq-api';
import { pushPayload } from '../src/ci/post-receive';
import { buildRequestSchema, toBuildMessage } from '../src/ci/push-event';
import { BuildStore } from '../src/ci/store';
import { CiSandbox } from './helpers/ci-data';
import { binRun } from './helpers/cli';
import { freePort, TestNsq } from './helpers/nsq';
import { channelStats, CliProcesses } from './helpers/pipeline';
import { lxctsOnPath } from './helpers/lxcts-shim';
import { TestRepo } from './helpers/repo';
import { ROOT } from './helpers/root';
import { waitFor } from './helpers/wait';

const ci = new CiSandbox('inputs');
afterAll(() => ci.cleanup());
const tmp = (name: string) => fs.mkdtempSync(path.join(ci.data.root, `${name}-`));
const sha = (c: string) => c.repeat(40);
const noLock = <T>(_name: string, fn: () => Promise<T>) => fn();

/** Every file below `dir` (relative), empty directories included as "dir/". */
function tree(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => path.relative(dir, path.join((e as unknown as { parentPath?: string }).parentPath ?? e.path, e.name)) + (e.isDirectory() ? '/' : ''));
}

describe('owner and repository names', () => {
  test.each([
    'octo/hello',
    'Codertocat/Hello-World',
    'a/b',
    'octo-cat/hello.js',
    'octo/.github',
    'octo/_x_',
    'octo/a..b',
    // Gitea and Forgejo owners may have "." and "_" between alphanumerics.
    'my.org/repo',
    'my_org/repo',
    `${'a'.repeat(39)}/${'r'.repeat(100)}`,
  ])('%s is accepted', (name) => {
    expect(fullNameProblem(name)).toBeNull();
  });

  test.each([
    '../../../../tmp/x',
    '',
    '.',
    '..',
    'octo',
    'octo/',
    '/hello',
    'octo/.',
    'octo/..',
    'octo/a/b',
    '-octo/hello',
    'octo-/hello',
    'oc--to/hello',
    '.octo/hello',
    'octo./hello',
    'octo/hel lo',
    'octo/héllo',
    'octo/a\nb',
    'octo/a\\b',
    'oc~to/x',
    `${'a'.repeat(41)}/x`,
    `octo/${'r'.repeat(101)}`,
    'octo/-u=x',
    'octo/a:b',
  ])('%j is refused', (name) => {
    expect(fullNameProblem(name)).not.toBeNull();
  });

  test('a valid name is one path component per part, inside the root, and the mapping is reversible', () => {
    const root = '/data/binaries';
    for (const name of ['octo/hello', 'my.org/.github', 'a/b..c']) {
      const dir = repositoryPath(root, name);
      expect(path.dirname(path.dirname(dir))).toBe(root);
      expect(repositoryOfPath(root, dir)).toBe(name);
    }
    for (const hostile of ['../../../../tmp/x', '', '.', 'x/..', '../x']) expect(() => repositoryPath(root, hostile)).toThrow(/not|owner/);
    // One mirror per (repository, clone URL), below the repository's directory.
    expect(path.dirname(mirrorPath('/m', 'octo/hello', 'https://a/octo/hello'))).toBe('/m/octo/hello');
    expect(mirrorPath('/m', 'octo/hello', 'https://a/octo/hello')).not.toBe(mirrorPath('/m', 'octo/hello', 'https://b/octo/hello'));
  });

  test('local repositories are named by their real path: the README sample and a bare repository of the same name differ', () => {
    expect(localRepository('/tmp/hello')).toMatch(/^local\/hello-[0-9a-f]{8}$/);
    expect(localRepository('/srv/git/hello.git')).toMatch(/^local\/hello-[0-9a-f]{8}$/);
    expect(localRepository('/tmp/hello')).not.toBe(localRepository('/srv/git/hello.git'));
    for (const odd of ['/tmp/.', '/tmp/..hidden', '/tmp/ünï cödé', '/tmp/-u=x', `/tmp/${'x'.repeat(300)}`]) {
      expect(fullNameProblem(localRepository(odd))).toBeNull();
    }
    // identify() resolves symlinks: a link to a repository is the same repository.
    const repo = TestRepo.create(path.join(tmp('ident'), 'hello'));
    const link = path.join(path.dirname(repo.dir), 'link');
    fs.symlinkSync(repo.dir, link);
    expect(identify(link)).toEqual(identify(repo.dir));
    expect(identify(repo.dir).repo).toBe(localRepository(fs.realpathSync(repo.dir)));
  });

  test('the post-receive hook names its repository as `ci build` does', () => {
    const bare = path.join(tmp('hook'), 'hello.git');
    execFileSync('git', ['init', '-q', '--bare', bare]);
    const payload = pushPayload(bare, sha('0'), sha('a'), 'refs/heads/main', 'tests');
    expect(payload.repository).toEqual(expect.objectContaining({ full_name: identify(bare).repo, clone_url: fs.realpathSync(bare) }));
  });

  test('commit ids are full hex ids', () => {
    expect(isCommitId(sha('a'))).toBe(true);
    expect(isCommitId('a'.repeat(64))).toBe(true);
    for (const bad of ['', 'HEAD', 'a'.repeat(39), 'A'.repeat(40), `${'a'.repeat(39)}g`, `-${'a'.repeat(39)}`, 'main']) expect(isCommitId(bad)).toBe(false);
  });
});

describe('refs follow git check-ref-format', () => {
  // A small deterministic generator (mulberry32), so a failure can be reproduced.
  function random(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const pieces = [
    'refs/',
    'heads/',
    'tags/',
    'main',
    'a',
    'x',
    '/',
    '//',
    '.',
    '..',
    '.lock',
    'lock',
    '@',
    '@{',
    '{',
    '}',
    '~',
    '^',
    ':',
    '?',
    '*',
    '[',
    ']',
    '\\',
    ' ',
    '\t',
    '\x01',
    '\x7f',
    '-',
    '--',
    'é',
    '😀',
    '=',
    '+',
    '#',
    '%',
    ',',
    'HEAD',
  ];
  const next = random(11);
  const corpus = new Set<string>([
    'refs/heads/main',
    'refs/heads/feature/x',
    'refs/heads/-u=x',
    'refs/tags/v1.0',
    'refs/heads/a.lock/b',
    '@',
    'refs/@',
    'refs/heads/@{x}',
    'refs/heads/.x',
    'refs/heads/x.',
    'refs/heads/x/',
    '/refs/heads/x',
    'refs',
    'refs/heads/ü',
  ]);
  while (corpus.size < 1500) {
    const n = 1 + Math.floor(next() * 6);
    let ref = next() < 0.7 ? 'refs/' : '';
    for (let i = 0; i < n; i++) ref += pieces[Math.floor(next() * pieces.length)];
    corpus.add(ref);
  }

  test('1,500 fuzzed refs: refProblem() accepts exactly what git check-ref-format accepts', () => {
    const disagreements: string[] = [];
    for (const ref of corpus) {
      const git = spawnSync('git', ['check-ref-format', ref]).status === 0;
      const ours = refProblem(ref) === null;
      if (git !== ours) disagreements.push(`${JSON.stringify(ref)}: git ${git}, ours ${ours}`);
    }
    expect(disagreements).toEqual([]);
    // The corpus is not all-invalid or all-valid.
    const valid = [...corpus].filter((r) => refProblem(r) === null).length;
    expect(valid).toBeGreaterThan(100);
    expect(valid).toBeLessThan(1400);
  });

  test('branch names: git check-ref-format --branch, including its refusal of a leading "-"', () => {
    for (const branch of ['main', 'feature/x', 'feature-x', '-u=x', '--upload-pack=x', 'HEAD', 'a..b', 'x.lock', 'ü', 'a b']) {
      const git = spawnSync('git', ['check-ref-format', '--branch', branch], { cwd: os.tmpdir() }).status === 0;
      expect([branch, branchProblem(branch) === null]).toEqual([branch, git]);
    }
  });
});

describe('clone URLs', () => {
  test.each([
    ['https://github.com/octo/hello.git', 'https'],
    ['ssh://git@github.com/octo/hello.git', 'ssh'],
    ['git@github.com:octo/hello.git', 'ssh'],
    ['git://git.example.org/octo/hello.git', 'git'],
    ['/srv/git/hello.git', 'file'],
    ['file:///srv/git/hello.git', 'file'],
  ])('%s is a %s source', (url, transport) => {
    expect(parseCloneUrl(url).transport).toBe(transport);
  });

  test.each([
    '-u=touch /tmp/pwned',
    '--upload-pack=touch /tmp/pwned',
    'ext::sh -c touch% /tmp/pwned',
    'fd::3',
    'http://127.0.0.1:4151/stats',
    'ftp://example.org/x',
    'relative/path',
    './hello',
    '',
    'ssh://-oProxyCommand=touch%20x/y',
    'ssh://-oProxyCommand@host/y',
    '-oProxyCommand=x:y',
    'https://exa mple.org/x',
    'https://example.org\\@127.0.0.1/x',
    'file://host/x',
    '/tmp/a\nb',
    'https://example.org/x\n',
    'git@-oProxyCommand=x:y',
  ])('%j is refused before anything resolves or runs it', (url) => {
    expect(() => parseCloneUrl(url)).toThrow(expect.objectContaining({ code: 'REFUSED_SOURCE' }));
  });

  test('private, loopback, link-local, CGNAT, unspecified and multicast addresses are private; public ones are not', () => {
    for (const a of [
      '127.0.0.1',
      '127.9.9.9',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fe80::1',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '64:ff9b::10.0.0.1',
    ]) {
      expect([a, isPrivateAddress(a)]).toEqual([a, true]);
    }
    for (const a of ['140.82.112.3', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])
      expect([a, isPrivateAddress(a)]).toEqual([a, false]);
  });

  test('hosts that are or resolve to private addresses are refused unless allowed (real DNS: localhost and IP literals)', async () => {
    const refused = [
      'https://localhost/octo/hello.git',
      'https://127.0.0.1/x',
      'https://[::1]/x',
      'https://10.0.0.8/x',
      'https://169.254.169.254/latest',
      'https://100.64.1.1/x',
      'https://0.0.0.0/x',
      'https://224.0.0.1/x',
      'https://[fd00::1]/x',
      'https://[::ffff:127.0.0.1]/x',
      'git://127.0.0.1/x',
      'ssh://localhost/x',
      'git@127.0.0.1:x.git',
      'ssh://2130706433/x',
      'https://2130706433/x',
      'https://0x7f.1/x',
    ];
    for (const url of refused) {
      await expect(checkCloneUrl(url, STRICT_POLICY)).rejects.toMatchObject({
        code: 'REFUSED_SOURCE',
        message: expect.stringMatching(/--allow-private-hosts/),
      });
      await expect(checkCloneUrl(url, { allowLocal: [], allowPrivateHosts: true })).resolves.toMatchObject({ addresses: expect.any(Array) });
    }
    // A public IP literal needs no DNS and is accepted.
    await expect(checkCloneUrl('https://140.82.112.3/octo/hello.git', STRICT_POLICY)).resolves.toMatchObject({
      transport: 'https',
      addresses: ['140.82.112.3'],
    });
  });

  test('local paths and file:// only under --allow-local directories, symlinks resolved', async () => {
    const allowed = tmp('allowed');
    const outside = tmp('outside');
    fs.mkdirSync(path.join(allowed, 'hello.git'));
    fs.symlinkSync(outside, path.join(allowed, 'escape'));
    const policy = { allowLocal: [allowed], allowPrivateHosts: false };
    await expect(checkCloneUrl(path.join(allowed, 'hello.git'), policy)).resolves.toMatchObject({
      transport: 'file',
      url: path.join(fs.realpathSync(allowed), 'hello.git'),
    });
    await expect(checkCloneUrl(`file://${allowed}/hello.git`, policy)).resolves.toMatchObject({ transport: 'file' });
    for (const url of [outside, path.join(allowed, 'escape'), path.join(allowed, '..'), `${allowed}-sibling/x`, ROOT, `file://${ROOT}`]) {
      await expect(checkCloneUrl(url, policy)).rejects.toMatchObject({ code: 'REFUSED_SOURCE' });
    }
    await expect(checkCloneUrl(ROOT, STRICT_POLICY)).rejects.toThrow(/--allow-local/);
    // The operator's own `ci build PATH` takes any path.
    await expect(checkCloneUrl(ROOT, { allowLocal: 'any', allowPrivateHosts: false })).resolves.toMatchObject({ transport: 'file' });
  });
});

describe('what reaches git', () => {
  test('a URL starting with "-" is refused before git, and after "--" git takes it as a repository, never an option', async () => {
    const dir = tmp('argv');
    const marker = path.join(dir, 'pwned');
    for (const url of ['-u=touch pwned', '--upload-pack=touch pwned']) {
      await expect(
        fetchMirror(ci.data.mirrors, { repo: 'octo/hello', cloneUrl: url }, { allowLocal: 'any', allowPrivateHosts: true }, noLock),
      ).rejects.toMatchObject({ code: 'REFUSED_SOURCE' });
    }
    expect(tree(ci.data.mirrors)).toEqual([]);
    const hostile = '--upload-pack=touch pwned';
    // The argv git gets puts URLs after "--": a repository literally named like the option
    // is cloned as a repository (real git), and no upload-pack command runs.
    TestRepo.create(path.join(dir, hostile));
    execFileSync('git', gitArgv(['clone', '--quiet', '--mirror', '--no-local', '--', hostile, 'copy.git'], { allowFile: true }), { cwd: dir });
    expect(fs.existsSync(path.join(dir, 'copy.git', 'HEAD'))).toBe(true);
    expect(fs.existsSync(marker)).toBe(false);
    // Without "--" (the argv before this fix) git reads it as --upload-pack and runs it.
    spawnSync('git', ['clone', '--quiet', '--mirror', '--no-local', hostile, path.join(dir, hostile), 'copy2.git'], { cwd: dir });
    expect(fs.existsSync(marker)).toBe(true);
  });

  test('an allowed bare repository owned by another user (a git account) is fetched', async () => {
    const owner = tmp('owned');
    const bare = path.join(owner, "it's hello.git"); // a quote in the path, for the upload-pack command
    const work = TestRepo.create(path.join(owner, 'work'));
    execFileSync('git', ['clone', '-q', '--bare', work.dir, bare]);
    execFileSync('chown', ['-R', 'nobody', bare]);
    const policy = { allowLocal: [owner], allowPrivateHosts: false };
    const mirrors = tmp('owned-mirrors');
    const mirror = await fetchMirror(mirrors, identify(bare), policy, noLock);
    await expect(resolveRevision(mirror, 'main')).resolves.toMatchObject({ commit: work.git('rev-parse', 'HEAD') });
    // And the next fetch (remote update) too.
    const second = work.commit('second');
    execFileSync('git', ['-c', 'safe.directory=*', '--git-dir', bare, 'fetch', '-q', work.dir, 'main:main']);
    expect(await fetchMirror(mirrors, identify(bare), policy, noLock)).toBe(mirror);
    await expect(resolveRevision(mirror, 'main')).resolves.toMatchObject({ commit: second });
  });

  test('every git call restricts protocols and ignores global config; refs starting with "-" are refused', async () => {
    const argv = gitArgv(['fetch']);
    expect(argv).toEqual(
      expect.arrayContaining([
        '-c',
        'protocol.allow=never',
        '-c',
        'protocol.https.allow=always',
        '-c',
        'http.followRedirects=false',
        '-c',
        'core.hooksPath=/dev/null',
      ]),
    );
    expect(argv).not.toContain('protocol.file.allow=always');
    const repo = TestRepo.create(path.join(tmp('refs'), 'hello'));
    const mirror = await fetchMirror(ci.data.mirrors, identify(repo.dir), { allowLocal: 'any', allowPrivateHosts: false }, noLock);
    for (const ref of ['-u=x', '--upload-pack=touch x', 'refs/heads/../x', 'a b', 'HEAD@{1}']) {
      await expect(resolveRevision(mirror, ref)).rejects.toMatchObject({ code: 'INVALID_NAME' });
    }
    await expect(resolveRevision(mirror, 'main')).resolves.toMatchObject({ ref: 'refs/heads/main', branch: 'main' });
  });

  test("a global git config cannot add url rewrites, credential helpers or hooks to the CI's git", async () => {
    const home = tmp('home');
    const marker = path.join(home, 'helper-ran');
    const repo = TestRepo.create(path.join(tmp('global'), 'hello'));
    fs.writeFileSync(path.join(home, '.gitconfig'), `[url "${path.join(home, 'nowhere')}"]\n\tinsteadOf = ${repo.dir}\n[core]\n\thooksPath = ${home}\n`);
    fs.writeFileSync(path.join(home, 'reference-transaction'), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    const saved = { HOME: process.env.HOME, GIT_CONFIG_GLOBAL: process.env.GIT_CONFIG_GLOBAL };
    process.env.HOME = home;
    process.env.GIT_CONFIG_GLOBAL = path.join(home, '.gitconfig');
    try {
      const mirror = await fetchMirror(tmp('mirrors'), identify(repo.dir), { allowLocal: 'any', allowPrivateHosts: false }, noLock);
      expect(fs.existsSync(path.join(mirror, 'HEAD'))).toBe(true);
      expect(fs.existsSync(marker)).toBe(false);
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });
});

describe('requests that must not build', () => {
  const base = {
    kind: 'push',
    delivery: 'd-1',
    repo: 'octo/hello',
    cloneUrl: 'https://github.com/octo/hello.git',
    ref: 'refs/heads/main',
    before: sha('0'),
    after: sha('a'),
    pusher: 'x',
    receivedAt: 1,
  };

  test('the message schema refuses hostile names, refs, commit ids and URLs', () => {
    expect(buildRequestSchema.safeParse(base).success).toBe(true);
    for (const bad of [
      { repo: '../../../../tmp/x' },
      { repo: '' },
      { repo: '.' },
      { ref: 'refs/heads/-u=x' },
      { ref: 'refs/heads/a..b' },
      { ref: 'main' },
      { after: 'HEAD' },
      { before: '-u=x' },
      { after: sha('0') },
      { cloneUrl: '-u=x' },
      { cloneUrl: 'ext::sh -c x' },
      { delivery: 'a\nb' },
    ]) {
      expect([bad, buildRequestSchema.safeParse({ ...base, ...bad }).success]).toEqual([bad, false]);
    }
  });

  test('a push event with a hostile full_name is invalid, not ignored', () => {
    const event = (full_name: string) => ({
      ref: 'refs/heads/main',
      before: sha('0'),
      after: sha('b'),
      repository: { full_name, clone_url: 'https://github.com/o/r.git' },
    });
    for (const name of ['../../../../tmp/x', '', '.'])
      expect(toBuildMessage('push', 'd', event(name))).toEqual({ invalid: expect.stringMatching(/not|owner/) });
    expect(toBuildMessage('push', 'd', event('o/r'))).toHaveProperty('build');
  });

  test('the builder refuses a hostile repository or ref before touching the data directory', async () => {
    const repo = TestRepo.create(path.join(tmp('builder'), 'hello'));
    const data = new CiSandbox('inputs-builder');
    try {
      const builder = data.builder({ sources: { allowLocal: 'any', allowPrivateHosts: false } });
      for (const name of ['../../../../tmp/x', '', '.']) {
        await expect(builder.build({ source: repo.dir, repo: name, ref: 'refs/heads/main' })).rejects.toMatchObject({ code: 'INVALID_NAME' });
      }
      for (const ref of ['-u=x', '--upload-pack=touch x', 'refs/heads/a..b', 'refs/heads/x.lock']) {
        await expect(builder.build({ source: repo.dir, ref })).rejects.toMatchObject({ code: 'INVALID_NAME' });
      }
      for (const dir of [data.data.mirrors, data.data.binaries, data.data.docs, data.data.workspaces]) expect(tree(dir)).toEqual([]);
      expect(data.store.list({ limit: 10 })).toEqual([]);
    } finally {
      data.cleanup();
    }
  });

  test('a clone URL on a private address is refused and the server there receives no connection', async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const data = new CiSandbox('inputs-ssrf');
    try {
      const strict = data.builder();
      for (const url of [
        `http://127.0.0.1:${port}/stats`,
        `https://127.0.0.1:${port}/o/r.git`,
        `git://127.0.0.1:${port}/o/r.git`,
        `https://localhost:${port}/o/r.git`,
        `ssh://127.0.0.1:${port}/o/r.git`,
      ]) {
        await expect(strict.build({ source: url, repo: 'o/r', ref: 'refs/heads/main', commit: sha('a') })).rejects.toMatchObject({ code: 'REFUSED_SOURCE' });
      }
      expect(connections).toBe(0);
      expect(tree(data.data.mirrors)).toEqual([]);
      // The server does see git when private hosts are allowed: the zero above is the policy's doing.
      const lax = data.builder({ sources: { allowLocal: [], allowPrivateHosts: true } });
      await expect(lax.build({ source: `git://127.0.0.1:${port}/o/r.git`, repo: 'o/r', ref: 'refs/heads/main' })).rejects.toMatchObject({ code: 'GIT_FAILED' });
      expect(connections).toBe(1);
    } finally {
      server.close();
      data.cleanup();
    }
  });
});

test('a worker drops invalid messages (full_name ../../../../tmp/x, "" and .) and refused sources, recording nothing anywhere', async () => {
  const nsq = await new TestNsq().start();
  const data = new CiSandbox('inputs-worker');
  const escape = `/tmp/lxcts-escape-${process.pid}`;
  const procs = new CliProcesses(data.data.root);
  try {
    await nsq.createChannel('lxcts.pushes', 'binaries');
    const repo = TestRepo.create(path.join(data.data.root, 'repos', 'hello'));
    const after = repo.git('rev-parse', 'HEAD');
    const message = (repoName: string) => ({
      kind: 'push',
      delivery: `d-${repoName}`,
      repo: repoName,
      cloneUrl: repo.dir,
      ref: 'refs/heads/main',
      before: sha('0'),
      after,
      pusher: 'x',
      receivedAt: Date.now(),
    });
    for (const name of [`../../../..${escape}`, '../../../../tmp/x', '', '.'])
      await publishMessage(nsq.nsqdHttp, 'lxcts.pushes', JSON.stringify(message(name)));
    // Valid names, refused sources: the lxcts checkout itself (not under --allow-local), and nsqd's HTTP port.
    for (const cloneUrl of [ROOT, `https://${nsq.nsqdHttp}/stats`]) {
      await publishMessage(nsq.nsqdHttp, 'lxcts.pushes', JSON.stringify({ ...message('octo/hello'), cloneUrl, delivery: `d-${cloneUrl}` }));
    }
    const worker = procs.startWorker(
      ['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp],
      'binaries',
      '--build-timeout',
      '60',
      '--allow-local',
      path.join(data.data.root, 'repos'),
    );
    await waitFor(
      async () => {
        const channel = await channelStats(nsq.nsqdHttp, 'lxcts.pushes', 'binaries');
        if (!channel || channel.depth + channel.in_flight_count + channel.deferred_count !== 0) return false;
        // Acknowledged at once, never retried.
        expect(channel.requeue_count).toBe(0);
        return true;
      },
      () => `the messages to be consumed; the worker's log:\n${procs.logOf(worker)}`,
      { seconds: 30, everyMs: 200 },
    );
    expect(procs.logOf(worker)).toMatch(/dropped/);
    for (const dir of [data.data.mirrors, data.data.binaries, data.data.docs, data.data.workspaces]) expect(tree(dir)).toEqual([]);
    expect(fs.existsSync(escape)).toBe(false);
    expect(new BuildStore(data.data.database).list({ limit: 10 })).toEqual([]);
  } finally {
    await procs.killAll();
    await nsq.stop();
    data.cleanup();
    fs.rmSync(escape, { recursive: true, force: true });
  }
}, 60_000);

test("three processes sharing a data directory fetch one mirror 25 times each and never collide on git's locks", async () => {
  const repo = TestRepo.create(path.join(tmp('race'), 'hello'));
  const mirrors = tmp('race-mirrors');
  const database = path.join(mirrors, 'locks.sqlite');
  new BuildStore(database).close();
  // Each process moves its own branch of the source, then fetches: every fetch has refs to
  // move that the others' fetches move too (without the lock: "cannot lock ref").
  const script = `
    const { execFileSync } = require('node:child_process');
    const { fetchMirror, identify } = require(${JSON.stringify(path.join(ROOT, 'dist', 'ci', 'git.js'))});
    const { BuildStore } = require(${JSON.stringify(path.join(ROOT, 'dist', 'ci', 'store.js'))});
    const store = new BuildStore(${JSON.stringify(database)});
    const source = identify(${JSON.stringify(repo.dir)});
    const lock = (name, fn) => store.withLock(name, fn);
    const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
    const git = (...args) => execFileSync('git', ['-C', source.cloneUrl, ...args], { encoding: 'utf8', env }).trim();
    (async () => {
      for (let i = 0; i < 25; i++) {
        git('update-ref', 'refs/heads/p' + process.pid, git('commit-tree', '-m', String(i), 'HEAD^{tree}'));
        await fetchMirror(${JSON.stringify(mirrors)}, source, { allowLocal: 'any', allowPrivateHosts: false }, lock);
      }
      store.close();
    })().catch((err) => { console.error(err.message); process.exit(1); });
  `;
  const run = () =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('exit', (code) => resolve({ code, stderr }));
    });
  const results = await Promise.all([run(), run(), run()]);
  expect(results).toEqual([
    { code: 0, stderr: '' },
    { code: 0, stderr: '' },
    { code: 0, stderr: '' },
  ]);
  // The mirror ends up exactly like the source.
  const mirror = mirrorPath(mirrors, identify(repo.dir).repo, fs.realpathSync(repo.dir));
  const refs = (gitDir: string) =>
    execFileSync('git', ['--git-dir', gitDir, 'for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads/'], { encoding: 'utf8' });
  expect(refs(mirror)).toBe(refs(path.join(repo.dir, '.git')));
  expect(refs(mirror).trim().split('\n')).toHaveLength(4);
}, 120_000);

test("a self-hosted bare repository: the hook's push is built under the name `ci build` gives it, by a worker allowed its directory only", async () => {
  const nsq = await new TestNsq().start();
  const data = new CiSandbox('inputs-hook');
  const procs = new CliProcesses(data.data.root);
  try {
    for (const channel of ['binaries', 'docs']) await nsq.createChannel('lxcts.pushes', channel);
    const secretFile = path.join(data.data.root, 'secret');
    fs.writeFileSync(secretFile, 'hook-secret\n');
    const port = await freePort();
    await procs.startReceiver(port, '--secret-file', secretFile, '--nsqd-http', nsq.nsqdHttp);
    const served = path.join(data.data.root, 'srv');
    const bare = path.join(served, 'hello.git');
    execFileSync('git', ['init', '-q', '--bare', bare]);
    // The hook runs a stable lxcts from PATH, as an installed package provides.
    const shim = lxctsOnPath(path.join(data.data.root, 'shim-bin'));
    const install = execFileSync(
      process.execPath,
      [binRun, 'ci', 'hook', 'install', bare, '--url', `http://127.0.0.1:${port}/hooks/github`, '--secret-file', secretFile],
      {
        encoding: 'utf8',
        env: { ...process.env, PATH: shim.PATH },
      },
    );
    expect(install).toContain(`--allow-local ${served}`);
    // binaries: allowed the hooked repositories' directory; docs: allowed nothing local.
    const discovery = ['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp];
    procs.startWorker(discovery, 'binaries', '--allow-local', served);
    const docs = procs.startWorker(discovery, 'docs');
    const work = TestRepo.create(path.join(data.data.root, 'work'));
    execFileSync('git', ['push', '-q', bare, 'HEAD:main'], { cwd: work.dir, stdio: 'ignore' });
    const repo = identify(bare).repo;
    expect(repo).toMatch(/^local\/hello-[0-9a-f]{8}$/);
    await waitFor(() => data.store.list({ repo, limit: 10 }).some((b) => b.status === 'success'), 'the binaries build', { seconds: 60, everyMs: 200 });
    expect(fs.existsSync(path.join(data.data.binaries, repo, 'main', 'bin', 'hello'))).toBe(true);
    // The docs worker refused the local path: acknowledged, nothing recorded or published.
    await waitFor(
      async () => {
        const c = await channelStats(nsq.nsqdHttp, 'lxcts.pushes', 'docs');
        return c !== undefined && c.depth + c.in_flight_count + c.deferred_count === 0;
      },
      'the docs worker to take the push',
      { seconds: 60, everyMs: 200 },
    );
    expect(data.store.list({ repo, limit: 10 }).map((b) => b.job)).toEqual(['binaries']);
    expect(procs.logOf(docs)).toMatch(/allows no local paths/);
    expect(tree(data.data.docs)).toEqual([]);
  } finally {
    await procs.killAll();
    await nsq.stop();
    data.cleanup();
  }
}, 120_000);
