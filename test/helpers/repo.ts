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

  /** Commits everything; returns the new commit id. */
  commit(message: string): string {
    this.git('add', '-A');
    this.git('commit', '-q', '--allow-empty', '-m', message);
    return this.git('rev-parse', 'HEAD');
  }
}
