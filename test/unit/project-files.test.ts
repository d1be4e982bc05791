/**
 * @tier unit
 * The files that set up other machines, checked here since no test run starts a VM or a
 * GitHub runner: the Vagrantfile (`vagrant validate`), the workflow (actionlint), and the
 * issue and pull-request templates. setup-host.sh installs vagrant and actionlint; where
 * one is missing (a laptop), its test is skipped and says why.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { parse } from 'yaml';

import { onPath } from '../../src/lxc/missing-tools';
import { must } from '../helpers/must';
import { ROOT } from '../helpers/root';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-project-files-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function ifInstalled(command: string, why: string): typeof test {
  if (onPath(command)) return test;
  console.warn(`skipped: ${command} is not installed (${why}; sudo bash scripts/setup-host.sh installs it)`);
  return test.skip;
}

describe('vagrant/Vagrantfile', () => {
  const vagrantfile = fs.readFileSync(path.join(ROOT, 'vagrant', 'Vagrantfile'), 'utf8');
  // Vagrant keeps state beside the Vagrantfile and in ~/.vagrant.d: both go to a temporary directory.
  const vagrant = (dir: string) =>
    spawnSync('vagrant', ['validate'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, VAGRANT_HOME: path.join(tmp, 'home'), VAGRANT_DOTFILE_PATH: path.join(tmp, 'dot'), VAGRANT_CHECKPOINT_DISABLE: '1' },
    });

  ifInstalled('vagrant', "Debian's vagrant package")('passes vagrant validate; a misspelt setting does not', () => {
    const ok = vagrant(path.join(ROOT, 'vagrant'));
    expect({ status: ok.status, out: ok.stdout + ok.stderr }).toEqual({ status: 0, out: expect.stringContaining('validated successfully') });
    const broken = path.join(tmp, 'broken');
    fs.mkdirSync(broken);
    fs.writeFileSync(path.join(broken, 'Vagrantfile'), vagrantfile.replace('config.vm.hostname', 'config.vm.hostnam'));
    const bad = vagrant(broken);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout + bad.stderr).toContain("shouldn't exist: hostnam");
  });

  test('provisions with setup-host.sh, builds, runs the unit tier, forwards the ports, for VirtualBox and libvirt', () => {
    expect(vagrantfile).toContain('bash /lxcts/scripts/setup-host.sh');
    for (const command of ['npm install', 'npm run build', 'npm run test:unit']) expect(vagrantfile).toContain(command);
    expect(vagrantfile.match(/config\.vm\.network "forwarded_port"/g)).toHaveLength(2);
    for (const provider of ['virtualbox', 'libvirt']) expect(vagrantfile).toContain(`config.vm.provider "${provider}"`);
    // One path for VMs and bare machines: no Node or Go installed beside setup-host.sh.
    expect(vagrantfile).not.toMatch(/nodesource|apt-get/);
  });
});

describe('.github/workflows/ci.yml', () => {
  const file = path.join(ROOT, '.github', 'workflows', 'ci.yml');

  ifInstalled('actionlint', 'built with go install in setup-host.sh')('passes actionlint; a broken workflow does not', () => {
    const ok = spawnSync('actionlint', ['-no-color', file], { encoding: 'utf8', timeout: 60_000 });
    expect({ status: ok.status, out: ok.stdout + ok.stderr }).toEqual({ status: 0, out: '' });
    const broken = path.join(tmp, 'broken.yml');
    fs.writeFileSync(broken, fs.readFileSync(file, 'utf8').replace('steps.tools.outputs.cache-hit', 'steps.toolz.outputs.cache-hit'));
    const bad = spawnSync('actionlint', ['-no-color', broken], { encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('toolz');
  });

  test('runs the same commands as .ci/run, caches npm and the built tools, uploads the bench smoke output', () => {
    const workflow = parse(fs.readFileSync(file, 'utf8')) as {
      jobs: Record<string, { steps: Array<{ uses?: string; run?: string; with?: Record<string, string> }> }>;
    };
    const runs = (job: string) =>
      must(workflow.jobs[job], `job ${job}`)
        .steps.map((s) => s.run ?? '')
        .join('\n');
    const ciRun = fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8');
    expect(ciRun).toContain('bash scripts/setup-host.sh');
    expect(runs('test')).toContain('bash scripts/setup-host.sh');
    expect(ciRun).toContain('npm install && npm test');
    expect(runs('test')).toContain('npm install && npm test');
    expect(runs('unit')).toContain('npm run test:unit');
    const uses = (job: string) =>
      must(workflow.jobs[job], `job ${job}`)
        .steps.filter((s) => s.uses)
        .map((s) => ({ uses: s.uses!.split('@')[0], path: s.with?.path }));
    expect(uses('test')).toEqual(
      expect.arrayContaining([
        { uses: 'actions/cache', path: '/tmp/npm-cache' },
        { uses: 'actions/cache', path: '~/lxcts-tools' },
        { uses: 'actions/upload-artifact', path: '${{ env.BENCH_SMOKE_OUT }}' },
      ]),
    );
  });

  test('issue and pull-request templates are there', () => {
    for (const template of ['ISSUE_TEMPLATE/bug_report.md', 'ISSUE_TEMPLATE/feature_request.md', 'pull_request_template.md']) {
      expect(fs.readFileSync(path.join(ROOT, '.github', template), 'utf8').length).toBeGreaterThan(100);
    }
  });
});
