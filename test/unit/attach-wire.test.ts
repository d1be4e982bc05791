/**
 * @tier unit
 * The attach helper's wire protocol, compiled on its own with a small C++ program
 * (test/unit/wire/wire_test.cc) under AddressSanitizer and UBSan: round trips, truncated
 * and lying headers, 250,000 mutated datagrams, descriptors over a socketpair. Needs a C++
 * compiler only: a stand-in for liblxc's header keeps liblxc out of it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ROOT } from '../helpers/root';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-wire-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('requests survive a round trip and every malformed datagram is refused without a fault', () => {
  const program = path.join(dir, 'wire_test');
  const wire = path.join(__dirname, 'wire');
  execFileSync(
    'g++',
    [
      '-std=c++17',
      '-O1',
      '-g',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-fsanitize=address,undefined',
      '-fno-sanitize-recover=all',
      // -iquote: an addon header must never stand in for a system header of the same name.
      '-I',
      wire,
      '-iquote',
      path.join(ROOT, 'addon'),
      '-o',
      program,
      path.join(wire, 'wire_test.cc'),
      path.join(ROOT, 'addon', 'attach_wire.cc'),
      path.join(ROOT, 'addon', 'attach_extras.cc'),
    ],
    { stdio: 'pipe' },
  );
  const run = spawnSync(program, { encoding: 'utf8', timeout: 60_000 });
  expect({ status: run.status, failed: run.stdout.split('\n').filter((l) => l.startsWith('FAIL')), stderr: run.stderr }).toEqual({
    status: 0,
    failed: [],
    stderr: '',
  });
  expect(run.stdout).toContain('ok 250000 mutated and random datagrams decoded or refused without a fault');
  expect(run.stdout.trim().split('\n').pop()).toBe('0 failed');
}, 120_000);
