/**
 * The worker's side of uploads.ts: sends what a job published on this machine to the
 * server, which publishes it in its own data directory. Files are hashed, then streamed
 * one PUT each (never a whole site in memory); a file that changes in between is refused
 * by the server, and any failure gives the upload up so that nothing of it is published.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import type { ManifestFile, UploadKind, UploadManifest } from './upload-manifest';
import { METADATA_FILES } from './upload-manifest';
import type { UploadResult } from './uploads';

export interface UploadRequest extends Omit<UploadManifest, 'files'> {
  /** The server's base URL (http://host:port). */
  server: string;
  token: string;
  /** What publish() returned: the commit's binaries directory and the docs site, or null. */
  binariesDir: string | null;
  docsDir: string | null;
  signal?: AbortSignal;
}

export class UploadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Regular files below `dir`, relative, without names starting with '.' (never served). */
async function filesBelow(dir: string, kind: UploadKind): Promise<Array<ManifestFile & { full: string }>> {
  const files: Array<ManifestFile & { full: string }> = [];
  const walk = async (relative: string) => {
    for (const entry of await fsp.readdir(path.join(dir, relative), { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const inside = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(inside);
      else if (entry.isFile() && !(kind === 'binaries' && METADATA_FILES.has(inside))) {
        const full = path.join(dir, inside);
        const hash = createHash('sha256');
        await pipeline(fs.createReadStream(full), hash);
        const stat = await fsp.stat(full);
        files.push({ kind, path: inside, size: stat.size, sha256: hash.digest('hex'), executable: (stat.mode & 0o100) !== 0, full });
      }
    }
  };
  await walk('');
  return files;
}

/** Uploads a job's published binaries and docs; resolves to where the server serves them. */
export async function uploadPublished(request: UploadRequest): Promise<UploadResult> {
  const { server, token, binariesDir, docsDir, signal, ...build } = request;
  const files = [
    ...(binariesDir ? await filesBelow(fs.realpathSync(binariesDir), 'binaries') : []),
    ...(docsDir ? await filesBelow(fs.realpathSync(docsDir), 'docs') : []),
  ];
  const auth = { Authorization: `Bearer ${token}` };
  const call = async (method: string, route: string, init: RequestInit = {}) => {
    const res = await fetch(new URL(route, server), { method, signal, ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
    if (!res.ok) {
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        // Not JSON: the text as it is.
      }
      throw new UploadError(res.status, `${method} ${route}: ${res.status} ${message}`);
    }
    return res;
  };
  const manifest: UploadManifest = { ...build, files: files.map(({ full: _full, ...file }) => file) };
  const created = await call('POST', '/uploads', { body: JSON.stringify(manifest), headers: { 'Content-Type': 'application/json' } });
  const { id } = (await created.json()) as { id: string };
  try {
    for (const file of files) {
      const route = `/uploads/${id}/${file.kind}/${file.path.split('/').map(encodeURIComponent).join('/')}`;
      const body = Readable.toWeb(fs.createReadStream(file.full)) as ReadableStream<Uint8Array>;
      await call('PUT', route, { body, duplex: 'half', headers: { 'Content-Length': String(file.size) } });
    }
    return (await (await call('POST', `/uploads/${id}/commit`)).json()) as UploadResult;
  } catch (err) {
    // Refused uploads are gone already; one given up half-way goes now.
    await fetch(new URL(`/uploads/${id}`, server), { method: 'DELETE', headers: auth }).catch(() => undefined);
    throw err;
  }
}
