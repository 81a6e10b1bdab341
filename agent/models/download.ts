import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Dispatcher, getGlobalDispatcher, interceptors, request } from 'undici';
import { fsyncDir, sha256File } from '../../shared/fs/index.js';
import { describeError, isVigilError, VigilError } from '../errors.js';

/**
 * Downloads one model file into the registry: a GET of a signed collector URL (no other credentials), streamed to a
 * temp file beside its destination while its SHA-256 is computed; the body may not grow past the announced size; the
 * file is fsynced and renamed into place only when size and hash are the announced ones, so the destination holds
 * either nothing or the right bytes. Failures: `model_download_failed` (network, HTTP status, Content-Length that
 * is not the announced size, disk), `model_hash_mismatch` (the bytes are not the announced ones).
 */
export interface ModelDownload {
  url: URL;
  /** Exact size of the file, bytes: also the cap on what is read. */
  size: number;
  /** Lowercase hex SHA-256. */
  sha256: string;
  /** Final path (in the registry). */
  dest: string;
  /** Connection settings (the box's TLS client configuration); default undici's global dispatcher. */
  dispatcher?: Dispatcher;
  /** Headers and between-chunks timeout, ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface DownloadedModel {
  path: string;
  bytes: number;
  ms: number;
  /** True when the registry already held the file with the announced hash (nothing was downloaded). */
  cached: boolean;
}

const MAX_REDIRECTS = 3;

export async function downloadModel(d: ModelDownload): Promise<DownloadedModel> {
  const t0 = performance.now();
  if (await holds(d.dest, d.size, d.sha256)) return { path: d.dest, bytes: d.size, ms: 0, cached: true };
  await mkdir(dirname(d.dest), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(d.dest), `.${randomBytes(6).toString('hex')}.part`);
  const where = redact(d.url);
  const timeout = d.timeoutMs ?? 60_000;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(d.url, {
      method: 'GET',
      dispatcher: (d.dispatcher ?? getGlobalDispatcher()).compose(
        interceptors.redirect({ maxRedirections: MAX_REDIRECTS }),
      ),
      headersTimeout: timeout,
      bodyTimeout: timeout,
      ...(d.signal ? { signal: d.signal } : {}),
    });
  } catch (err) {
    throw failed(`GET ${where}: ${describeError(err)}`, err);
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => undefined);
    throw failed(`GET ${where}: HTTP ${res.statusCode}`);
  }
  const length = res.headers['content-length'];
  if (typeof length === 'string' && Number(length) !== d.size) {
    await res.body.dump().catch(() => undefined);
    throw failed(`GET ${where}: Content-Length ${length}, but the model is announced as ${d.size} bytes`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const fh = await open(tmp, 'wx', 0o600).catch((err: unknown) => {
    res.body.destroy();
    throw failed(`cannot create ${tmp}: ${describeError(err)}`, err);
  });
  try {
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > d.size) {
          res.body.destroy();
          throw mismatch(`${where} sent more than the announced ${d.size} bytes`);
        }
        hash.update(chunk);
        await fh.write(chunk);
      }
      if (bytes !== d.size) throw mismatch(`${where} sent ${bytes} bytes; ${d.size} were announced`);
      const got = hash.digest('hex');
      if (got !== d.sha256) throw mismatch(`${where}: SHA-256 ${got}; ${d.sha256} was announced`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, d.dest);
  } catch (err) {
    await rm(tmp, { force: true });
    if (isVigilError(err)) throw err;
    throw failed(`GET ${where}: ${describeError(err)}`, err);
  }
  await syncDir(dirname(d.dest));
  return { path: d.dest, bytes, ms: performance.now() - t0, cached: false };
}

/** The file is there with the announced size and hash (a model downloaded before: rollback, re-rollout). */
async function holds(path: string, size: number, sha256: string): Promise<boolean> {
  try {
    const s = await stat(path);
    return s.isFile() && s.size === size && (await sha256File(path)) === sha256;
  } catch {
    return false;
  }
}

/** The directory entry of the rename is on disk too (best effort: some filesystems refuse fsync on a directory). */
async function syncDir(dir: string): Promise<void> {
  await fsyncDir(dir).catch(() => undefined);
}

/** The URL without its query: the signature in it is a credential for as long as it lasts. */
function redact(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function failed(message: string, cause?: unknown): VigilError {
  return new VigilError('model_download_failed', message, cause === undefined ? {} : { cause });
}

function mismatch(message: string): VigilError {
  return new VigilError('model_hash_mismatch', message);
}
