/**
 * Uploads from workers on other machines: a finished job's artifacts and docs site, so
 * that the server serves them (files.ts) whichever machine built them.
 *
 * The protocol (every request with `Authorization: Bearer <worker token>`):
 *   POST   /uploads                          the manifest (upload-manifest.ts) → 201 { id }
 *   PUT    /uploads/<id>/<binaries|docs>/<path>   one file's bytes, streamed to disk and
 *                                            checked against its size and SHA-256 on arrival
 *   POST   /uploads/<id>/commit              publish: every declared file must have come
 *   DELETE /uploads/<id>                     give up
 * Any refusal after the manifest (a wrong sum or size, a file not declared or sent twice,
 * a commit with files missing) drops the whole upload: its staging directory is removed
 * and its id forgotten, so nothing of it is ever published. A commit hands the staging
 * directory to publish.ts, the same code a local worker runs (staging then rename(2),
 * pointers swapped atomically), under the repository's publishing lock: a reader sees
 * the previous build or this one, never half a site.
 *
 * A pull request's build (its manifest's `pull`) is published as the worker published it:
 * under the pull request (`<repo>/pull/<N>/`, served at `-/pull/<N>/<sha>/`, files.ts),
 * never at a branch's or the commit's place, and expired by the retention (`ci gc`).
 *
 * Files are written only below the server's own staging directory (mode 0700), created
 * with O_EXCL|O_NOFOLLOW from paths the manifest check accepted; and publish.ts copies
 * them by descriptor anyway.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

import { Hono } from 'hono';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';

import { publish } from '../ci/publish';
import { SerialQueue } from '../lxc/serial-queue';
import { publishedUrl, pullUrl } from './files';
import { parseRequestPath, rawPathOf } from './request-path';
import { DEFAULT_UPLOAD_LIMITS, ManifestFile, parseManifest, UploadLimits, UploadManifest } from './upload-manifest';
import { bearerMatches } from './worker-token';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

/** Where docs wait in an upload's tree: hidden, so the artifact glob never takes them. */
const DOCS_DIR = '.docs';
const UPLOAD_ID = /^[0-9a-f]{32}$/;
/** Bytes of a manifest: 20,000 files of 1 KiB paths fit. */
const MAX_MANIFEST_BYTES = 32 * 1024 * 1024;

export type PublishLock = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

export interface UploadsOptions {
  /** The data directory's binaries/ and docs/. */
  binariesRoot: string;
  docsRoot: string;
  /** The server's own directory for uploads in progress (emptied at start). */
  stagingDir: string;
  /** The worker token (worker-token.ts's readWorkerToken). */
  token: string;
  limits?: Partial<UploadLimits>;
  /**
   * The per-repository publishing lock, shared with local workers when they publish into
   * the same data directory (BuildStore's withLock); one in this process when not given.
   */
  lock?: PublishLock;
}

export interface UploadResult {
  binaries: string | null;
  docs: string | null;
  artifacts: string[];
  notes: string[];
}

interface Upload {
  id: string;
  manifest: UploadManifest;
  dir: string;
  /** Declared files not yet received, by `<kind>/<path>`. */
  pending: Map<string, ManifestFile>;
  /** A file is being received or the upload is committing: nothing else may touch it. */
  busy: boolean;
  expires: number;
}

class Refused extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 413 | 422 | 503,
    message: string,
  ) {
    super(message);
  }
}

function localLock(): PublishLock {
  const queues = new Map<string, SerialQueue>();
  return (name, fn) => {
    let queue = queues.get(name);
    if (!queue) queues.set(name, (queue = new SerialQueue()));
    return queue.run(fn);
  };
}

export function uploadsApp(options: UploadsOptions): Hono {
  const limits = { ...DEFAULT_UPLOAD_LIMITS, ...options.limits };
  const lock = options.lock ?? localLock();
  const uploads = new Map<string, Upload>();
  // What a previous run left is no longer known to anyone. Only upload ids are removed:
  // a staging directory given by mistake (the data directory itself) loses nothing else.
  fs.mkdirSync(options.stagingDir, { recursive: true, mode: 0o700 });
  for (const name of fs.readdirSync(options.stagingDir)) {
    if (UPLOAD_ID.test(name)) fs.rmSync(path.join(options.stagingDir, name), { recursive: true, force: true });
  }

  const drop = async (upload: Upload) => {
    uploads.delete(upload.id);
    await fsp.rm(upload.dir, { recursive: true, force: true });
  };
  const expire = async () => {
    const now = Date.now();
    for (const upload of [...uploads.values()]) if (!upload.busy && upload.expires < now) await drop(upload);
  };
  const find = (id: string): Upload => {
    const upload = uploads.get(id);
    if (!upload) throw new Refused(404, 'no such upload (refused, committed or expired)');
    if (upload.busy) throw new Refused(409, 'the upload is busy with another request');
    return upload;
  };
  const refusal = (c: Context, err: unknown) => {
    if (err instanceof Refused) return c.json({ error: err.message }, err.status);
    throw err;
  };

  const app = new Hono();
  app.use('/uploads', async (c, next) => auth(c, next));
  app.use('/uploads/*', async (c, next) => auth(c, next));
  async function auth(c: Context, next: () => Promise<void>) {
    if (!bearerMatches(c.req.header('Authorization'), options.token)) {
      return c.json({ error: 'a worker token is needed' }, 401, { 'WWW-Authenticate': 'Bearer' });
    }
    await expire();
    return next();
  }

  app.post('/uploads', bodyLimit({ maxSize: MAX_MANIFEST_BYTES, onError: (c) => c.json({ error: 'the manifest is too large' }, 413) }), async (c) => {
    let manifest: UploadManifest;
    try {
      manifest = parseManifest(await c.req.json(), limits);
    } catch (err) {
      return c.json({ error: (err as Error).message }, 400);
    }
    if (uploads.size >= limits.maxOpenUploads) return c.json({ error: `${limits.maxOpenUploads} uploads are open already` }, 503);
    const id = randomBytes(16).toString('hex');
    const dir = path.join(options.stagingDir, id);
    await fsp.mkdir(path.join(dir, 'tree', DOCS_DIR), { recursive: true, mode: 0o700 });
    const pending = new Map(manifest.files.map((file) => [`${file.kind}/${file.path}`, file]));
    uploads.set(id, { id, manifest, dir, pending, busy: false, expires: Date.now() + limits.expiresAfterMs });
    return c.json({ id }, 201);
  });

  app.put('/uploads/:id/*', async (c) => {
    let upload: Upload | undefined;
    try {
      upload = find(c.req.param('id'));
      const asked = parseRequestPath(rawPathOf(c.req.url), `/uploads/${upload.id}`);
      const key = asked?.components.join('/');
      const file = key === undefined ? undefined : upload.pending.get(key);
      if (!file) throw new Refused(422, 'a file the manifest does not declare, or one sent already');
      upload.busy = true;
      await receive(upload, file, c.req.raw.body);
      upload.pending.delete(key as string);
      upload.busy = false;
      return c.body(null, 204);
    } catch (err) {
      // Whatever went wrong, nothing of this upload is published.
      if (upload && uploads.get(upload.id) === upload) await drop(upload);
      return refusal(c, err);
    }
  });

  app.post('/uploads/:id/commit', async (c) => {
    let upload: Upload | undefined;
    try {
      upload = find(c.req.param('id'));
      if (upload.pending.size) {
        const missing = [...upload.pending.keys()].slice(0, 10);
        throw new Refused(422, `${upload.pending.size} declared file(s) never came: ${missing.map((m) => JSON.stringify(m)).join(', ')}`);
      }
      upload.busy = true;
      const result = await publishUpload(upload, options, lock);
      await drop(upload);
      return c.json(result, 200);
    } catch (err) {
      if (upload && uploads.get(upload.id) === upload) await drop(upload);
      if (err instanceof Refused) return refusal(c, err);
      return c.json({ error: `not published: ${(err as Error).message}` }, 422);
    }
  });

  app.delete('/uploads/:id', async (c) => {
    try {
      await drop(find(c.req.param('id')));
      return c.body(null, 204);
    } catch (err) {
      return refusal(c, err);
    }
  });

  return app;
}

/** Streams one file's bytes to its place in the upload's tree, checking size and sum. */
async function receive(upload: Upload, file: ManifestFile, body: ReadableStream<Uint8Array> | null): Promise<void> {
  const target = path.join(upload.dir, 'tree', ...(file.kind === 'docs' ? [DOCS_DIR] : []), ...file.path.split('/'));
  await fsp.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  // The owner's execute bit is what publish.ts turns into 0755.
  const out = await fsp.open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, file.executable ? 0o700 : 0o600);
  const hash = createHash('sha256');
  let size = 0;
  try {
    if (body) {
      for await (const chunk of body) {
        size += chunk.byteLength;
        if (size > file.size) throw new Refused(422, `${file.kind}/${file.path} is larger than the ${file.size} bytes declared`);
        hash.update(chunk);
        await out.write(chunk);
      }
    }
  } finally {
    await out.close();
  }
  if (size !== file.size) throw new Refused(422, `${file.kind}/${file.path} has ${size} bytes, not the ${file.size} declared`);
  if (hash.digest('hex') !== file.sha256) throw new Refused(422, `${file.kind}/${file.path} does not match its SHA-256`);
}

async function publishUpload(upload: Upload, options: UploadsOptions, lock: PublishLock): Promise<UploadResult> {
  const { manifest } = upload;
  const hasBinaries = manifest.files.some((file) => file.kind === 'binaries');
  const hasDocs = manifest.files.some((file) => file.kind === 'docs');
  const published = await lock(`publish:${manifest.repo}`, () =>
    publish({
      binariesRoot: options.binariesRoot,
      docsRoot: options.docsRoot,
      repo: manifest.repo,
      commit: manifest.commit,
      version: manifest.version,
      branch: manifest.branch,
      workspace: path.join(upload.dir, 'tree'),
      // The server has no clone of the repository: the worker's word that the push was
      // not forced stands for ancestry (a push that is not forced is a fast-forward); a
      // build requested earlier still never moves a pointer back.
      mirror: '',
      isAncestor: () => Promise.resolve(true),
      artifacts: hasBinaries ? [{ path: '**', required: true }] : undefined,
      docs: hasDocs ? DOCS_DIR : undefined,
      buildId: manifest.buildId,
      requestedAt: manifest.requestedAt,
      forced: manifest.forced,
      // A pull request's: below <repo>/pull/<N>/, and no pointer moves (publish.ts).
      pull: manifest.pull,
    }),
  );
  const { repo, commit, branch, pull } = manifest;
  if (pull !== undefined) {
    return {
      binaries: published.binariesDir ? pullUrl('binaries', repo, pull, commit) : null,
      docs: published.docsDir ? pullUrl('docs', repo, pull, commit) : null,
      artifacts: published.artifacts,
      notes: published.notes,
    };
  }
  return {
    binaries: published.binariesDir ? publishedUrl('binaries', repo, commit) : null,
    docs: published.docsDir && branch ? publishedUrl('docs', repo, branch) : null,
    artifacts: published.artifacts,
    notes: published.notes,
  };
}
