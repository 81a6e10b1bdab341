import { existsSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { VigilError } from '../errors.js';
import type { ListenAddress } from '../config/listen.js';
import type { DaemonStatus } from './schema.js';

/**
 * The daemon's local status endpoint: `GET /status` answers the DaemonStatus JSON. Loopback TCP or a unix socket
 * only — it tells anyone who can reach it what the box sees and where it sends, so it is never exposed on a
 * network interface. Read-only: nothing can be changed through it.
 */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function describeListen(a: ListenAddress): string {
  return a.kind === 'unix' ? a.path : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** A unix socket file left by a daemon that died: removed when nobody answers on it. */
async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive)
    throw new VigilError(
      'status_in_use',
      `another process answers on ${path} (is a vigil-agent daemon already running?)`,
      { details: { listen: path } },
    );
  unlinkSync(path);
}

export interface StatusServer {
  /** Where it listens (the TCP port filled in when 0 was asked). */
  address: string;
  close(): Promise<void>;
}

export async function startStatusServer(listen: ListenAddress, snapshot: () => DaemonStatus): Promise<StatusServer> {
  if (listen.kind === 'tcp' && !isLoopbackHost(listen.host)) {
    throw new VigilError(
      'config_invalid',
      `status.listen must be a loopback address (127.0.0.1, ::1, localhost) or a unix socket path, ` +
        `got ${describeListen(listen)}`,
      {
        details: { path: 'status.listen' },
      },
    );
  }
  if (listen.kind === 'unix') await removeStaleSocket(listen.path);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/status' && path !== '/')) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'not_found', message: 'GET /status' } }));
      return;
    }
    try {
      const body = JSON.stringify(snapshot());
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
    } catch (err) {
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'status_failed', message: (err as Error).message } }));
    }
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new VigilError(
          err.code === 'EADDRINUSE' ? 'status_in_use' : 'status_listen_failed',
          `cannot listen on ${describeListen(listen)} for status: ${err.message}`,
          {
            cause: err,
            details: { listen: describeListen(listen) },
          },
        ),
      ),
    );
    if (listen.kind === 'unix') server.listen(listen.path, resolve);
    else server.listen(listen.port, listen.host, resolve);
  });
  const a = server.address();
  const address =
    typeof a === 'string'
      ? a
      : a
        ? describeListen({ kind: 'tcp', host: a.address, port: a.port })
        : describeListen(listen);
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
