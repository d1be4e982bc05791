/**
 * Secrets end to end: a real worker process (bin/run.js ci worker --live-logs) builds a
 * push in a real container with the repository's secret, and the CI server's store, fed by
 * its real NSQ consumers, has the log, the steps and the build's message with `***` where
 * the value was (printed whole, split across two writes, base64). A pull request the
 * worker cannot tell is from the repository itself is built without secrets: its job fails,
 * saying so, before any step.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';

import { publishMessage } from '../src/ci/nsq-api';
import { PUSH_TOPIC } from '../src/ci/push-event';
import { SecretStore } from '../src/ci/secret-store';
import { must } from './helpers/must';
import { buildRequest, stopProcess } from './helpers/pipeline';
import { TestRepo } from './helpers/repo';
import { waitFor } from './helpers/wait';
import { WorkersToServer } from './helpers/workers-to-server';

const TOPIC = PUSH_TOPIC;
const system = new WorkersToServer('server-secrets', ['deploy']);
const { nsq, ci, procs } = system;
const VALUE = `srv-${randomUUID()}`;

beforeAll(() => system.start());
afterAll(() => system.stop());

test("a push's build shows *** for the secret on the server; a pull request's gets no secret", async () => {
  const repo = TestRepo.create(
    path.join(ci.data.root, 'repos', 'deployer'),
    [
      'jobs:',
      '  deploy:',
      '    secrets: [DEPLOY_TOKEN]',
      '    pull_requests: true',
      '    steps:',
      '      - |-',
      '        printf "whole %s\\n" "$DEPLOY_TOKEN"',
      '      - |-',
      '        printf "split %s" "$(printf %s "$DEPLOY_TOKEN" | cut -c1-9)"; sleep 1; printf "%s end\\n" "$(printf %s "$DEPLOY_TOKEN" | cut -c10-)"',
      '      - |-',
      '        printf %s "$DEPLOY_TOKEN" | base64',
      '      - exit 7',
      '',
    ].join('\n'),
  );
  const commit = repo.git('rev-parse', 'HEAD');
  const request = buildRequest(repo, commit);
  const secrets = new SecretStore(ci.data.root);
  try {
    secrets.set(request.repo, 'DEPLOY_TOKEN', Buffer.from(VALUE));
  } finally {
    secrets.close();
  }
  const worker = system.startWorker('deploy', '--live-logs');
  const server = system.store;
  const finished = (n: number) => () => {
    const builds = server.list({ limit: 10 });
    return builds.length === n && builds.every((b) => b.status !== 'running' && b.status !== 'queued' && server.readLog(b.key, 0, 0).complete);
  };
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(request));
  await waitFor(finished(1), () => `the push's build on the server with its whole log; worker log:\n${procs.logOf(worker)}`, { seconds: 240, everyMs: 200 });
  const push = must(server.list({ limit: 1 })[0], 'the build');
  expect(push).toMatchObject({ status: 'failure', exitCode: 7 });
  const log = server.readLog(push.key, 0, 1024 * 1024).data.toString();
  expect(log).toContain('whole ***\n');
  expect(log).toContain('split *** end\n');
  expect(log).toMatch(/^\*\*\*\n/m);
  // The same commit as the head of a pull request from a fork (the base is that commit too).
  repo.git('update-ref', 'refs/pull/1/head', commit);
  const fromFork = buildRequest(repo, commit, {
    kind: 'pull_request',
    ref: 'refs/pull/1/head',
    before: commit,
    delivery: `pr-${randomUUID()}`,
    pull: { number: 1, action: 'opened', baseRef: 'main', baseSha: commit, headRepo: 'mallory/deployer', fork: true, mergeable: null },
  });
  await publishMessage(nsq.nsqdHttp, TOPIC, JSON.stringify(fromFork));
  await waitFor(finished(2), () => `the pull request's build on the server; worker log:\n${procs.logOf(worker)}`, { seconds: 240, everyMs: 200 });
  const pr = must(
    server.list({ limit: 10 }).find((b) => b.key !== push.key),
    "the pull request's build",
  );
  expect(pr).toMatchObject({ status: 'failure', message: expect.stringContaining('secrets DEPLOY_TOKEN are not given to this build') });
  expect(server.steps(pr.key)).toEqual([]);
  // Nowhere on the server, nor in the worker's own log file.
  const everything = JSON.stringify([server.list({ limit: 10 }), server.steps(push.key), log]);
  for (const form of [VALUE, Buffer.from(VALUE).toString('base64')]) expect(everything).not.toContain(form);
  expect(fs.readFileSync(must(ci.store.get(push.workerBuildId)?.logPath, "the worker's log")).includes(VALUE)).toBe(false);
  await stopProcess(worker);
}, 600_000);
