/**
 * The webhook receiver: POST /hooks/github takes GitHub's push, ping and pull_request
 * events (Gitea and Forgejo send the same format), checks the X-Hub-Signature-256 HMAC in
 * constant time, refuses (422) events whose names or clone URL are invalid, de-duplicates
 * by X-GitHub-Delivery and by push (repository, ref, before, after), and publishes a small build request
 * to NSQ through the spool. It answers at once; building is the workers' business.
 */
import * as http from 'node:http';

import { verify } from '@octokit/webhooks-methods';

import { DeliveryLog } from './deliveries';
import { Logger } from './logger';
import { SpooledPublisher } from './nsq-spool';
import { toBuildMessage } from './push-event';

export const MAX_BODY_BYTES = 25 * 1024 * 1024;

export interface WebhookOptions {
  secret: string;
  publisher: SpooledPublisher;
  deliveries: DeliveryLog;
  log: Logger;
  maxBodyBytes?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) return reject(new HttpError(413, `body over ${limit} bytes`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError(413, `body over ${limit} bytes`));
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function reply(res: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' });
  res.end(text);
}

export function createWebhookServer(options: WebhookOptions): http.Server {
  if (!options.secret) throw new Error('the webhook receiver needs a secret: without one, anyone could trigger builds');
  const limit = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const { log } = options;

  async function handle(req: http.IncomingMessage): Promise<[number, Record<string, unknown>]> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz') return [200, { ok: true, spooled: options.publisher.pending() }];
    if (url.pathname !== '/hooks/github') throw new HttpError(404, 'not found');
    if (req.method !== 'POST') throw new HttpError(405, 'POST only');
    const body = await readBody(req, limit);
    const signature = req.headers['x-hub-signature-256'];
    if (typeof signature !== 'string' || !(await verify(options.secret, body.toString('utf8'), signature).catch(() => false))) {
      throw new HttpError(401, 'missing or wrong X-Hub-Signature-256');
    }
    if (
      !String(req.headers['content-type'] ?? '')
        .toLowerCase()
        .startsWith('application/json')
    ) {
      throw new HttpError(400, "expected content-type application/json (set the webhook's content type to JSON)");
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'malformed JSON');
    }
    const event = String(req.headers['x-github-event'] ?? '');
    const delivery = String(req.headers['x-github-delivery'] ?? '');
    if (event === 'ping') return [200, { ok: true, pong: true }];
    if (!delivery) throw new HttpError(400, 'missing X-GitHub-Delivery');
    const outcome = toBuildMessage(event, delivery, payload);
    if ('invalid' in outcome) {
      // Names that would reach paths or git's argv: refused here, nothing published.
      log.warn({ event, delivery, reason: outcome.invalid }, 'invalid event refused');
      throw new HttpError(422, outcome.invalid);
    }
    if ('ignore' in outcome) {
      log.info({ event, delivery, reason: outcome.ignore }, 'event ignored');
      return [202, { accepted: false, ignored: outcome.ignore }];
    }
    const { repo, ref, before, after } = outcome.build;
    const seen = options.deliveries.record(delivery, event, { repo, ref, before, after, pushedAt: outcome.pushedAt });
    if (seen === 'redelivery') {
      log.info({ event, delivery }, 'redelivery ignored');
      return [200, { accepted: true, duplicate: true }];
    }
    if (seen === 'replay') {
      // Same body, new X-GitHub-Delivery (which the signature does not cover).
      log.warn({ event, delivery, repo, ref, after }, 'push already accepted under another delivery id; not published again');
      return [200, { accepted: true, duplicate: true, replay: true }];
    }
    try {
      await options.publisher.enqueue(JSON.stringify(outcome.build));
    } catch (err) {
      // Not even spooled (disk full?): let GitHub's redelivery try again.
      options.deliveries.forget(delivery);
      throw err;
    }
    log.info({ event, delivery, repo: outcome.build.repo, ref: outcome.build.ref, after: outcome.build.after }, 'build requested');
    return [202, { accepted: true, spooled: options.publisher.pending() > 0 }];
  }

  return http.createServer((req, res) => {
    handle(req).then(
      ([status, body]) => reply(res, status, body),
      (err: Error) => {
        const status = err instanceof HttpError ? err.status : 500;
        if (status === 500) log.error({ err: err.message }, 'webhook failed');
        reply(res, status, { error: err.message });
      },
    );
  });
}
