/** Git repositories made by the tests, from the README's sample C project. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ROOT } from './root';

/** The README's sample repository: a C program, a Makefile and its .lxcts.yml. */
export const SAMPLE_DIR = path.join(ROOT, 'examples', 'hello-ci');

export const SAMPLE_BUILD_FILE = fs.readFileSync(path.join(SAMPLE_DIR, '.lxcts.yml'), 'utf8');

export class TestRepo {
  constructor(readonly dir: string) {}

  static create(dir: string, buildFile = SAMPLE_BUILD_FILE): TestRepo {
    fs.mkdirSync(dir, { recursive: true });
    const repo = new TestRepo(dir);
    repo.git('init', '-q', '-b', 'main');
    for (const file of ['hello.c', 'Makefile']) repo.write(file, fs.readFileSync(path.join(SAMPLE_DIR, file), 'utf8'));
    repo.write('.lxcts.yml', buildFile);
    repo.commit('hello');
    return repo;
  }

  git(...args: string[]): string {
    return execFileSync('git', ['-c', 'user.email=ci@lxcts.test', '-c', 'user.name=lxcts tests', ...args], { cwd: this.dir, encoding: 'utf8' }).trim();
  }

  write(file: string, text: string): void {
    fs.mkdirSync(path.dirname(path.join(this.dir, file)), { recursive: true });
    fs.writeFileSync(path.join(this.dir, file), text);
  }

  /**
   * What GitHub keeps for pull request `number`: refs/pull/<number>/head at `head`, and
   * refs/pull/<number>/merge at a commit merging it into `base` (parents: base, head) when
   * it merges cleanly. Returns the merge commit, or null when it conflicts (no merge ref).
   */
  pullRequest(number: number, head: string, base = 'main'): string | null {
    this.git('update-ref', `refs/pull/${number}/head`, head);
    const baseCommit = this.git('rev-parse', base);
    let tree: string;
    try {
      tree = this.git('merge-tree', '--write-tree', baseCommit, head).split('\n')[0]!;
    } catch {
      this.git('update-ref', '-d', `refs/pull/${number}/merge`);
      return null;
    }
    const merge = this.git('commit-tree', tree, '-p', baseCommit, '-p', head, '-m', `Merge ${head} into ${baseCommit}`);
    this.git('update-ref', `refs/pull/${number}/merge`, merge);
    return merge;
  }

  /** Commits everything; returns the new commit id. */
  commit(message: string): string {
    this.git('add', '-A');
    this.git('commit', '-q', '--allow-empty', '-m', message);
    return this.git('rev-parse', 'HEAD');
  }
}
