/** Git repositories made by the tests: a small C project with binaries and docs jobs. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const HELLO_C = `#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--version") == 0) { printf("hello %s\\n", VERSION); return 0; }
  printf("hello, world\\n");
  return 0;
}
`;

const MAKEFILE = `VERSION ?= $(shell git describe --tags --always 2>/dev/null || echo dev)
build:
\tmkdir -p bin
\tcc -O2 -DVERSION='"$(VERSION)"' -o bin/hello hello.c
docs:
\tmkdir -p site
\techo '<html><body><h1>hello</h1><p>$(VERSION)</p></body></html>' > site/index.html
`;

export const SAMPLE_BUILD_FILE = `base: host
jobs:
  binaries:
    branches: [main]
    steps: [make build, ./bin/hello --version]
    artifacts: [bin/*]
    timeout: 2m
    limits: { memory: 512M, pids: 256 }
  docs:
    branches: [main]
    steps: [make docs]
    docs: site/
`;

export class TestRepo {
  constructor(readonly dir: string) {}

  static create(dir: string, buildFile = SAMPLE_BUILD_FILE): TestRepo {
    fs.mkdirSync(dir, { recursive: true });
    const repo = new TestRepo(dir);
    repo.git('init', '-q', '-b', 'main');
    repo.write('hello.c', HELLO_C);
    repo.write('Makefile', MAKEFILE);
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
