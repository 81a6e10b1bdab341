import { request } from 'node:http';
import { isVigilError, VigilError } from '../errors.js';
import { validator } from '../../shared/schema/index.js';
import type { ListenAddress } from '../config/listen.js';
import { DaemonStatusSchema, type DaemonStatus } from './schema.js';
import { describeListen } from './server.js';

const checkStatus = validator(DaemonStatusSchema, { code: 'status_invalid', registry: VigilError });

/**
 * Asks the running daemon for its status. `daemon_not_running` (exit 3, like `systemctl status` for a stopped
 * unit) when nothing answers at the address.
 */
export function fetchDaemonStatus(listen: ListenAddress, timeoutMs = 5000): Promise<DaemonStatus> {
  const where = describeListen(listen);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method: 'GET',
        path: '/status',
        timeout: timeoutMs,
        ...(listen.kind === 'unix' ? { socketPath: listen.path } : { host: listen.host, port: listen.port }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200)
            return reject(
              new VigilError(
                'status_failed',
                `the daemon at ${where} answered ${res.statusCode}: ${text.slice(0, 200)}`,
              ),
            );
          try {
            resolve(checkStatus.parse(JSON.parse(text), 'status'));
          } catch (err) {
            reject(
              isVigilError(err)
                ? err
                : new VigilError(
                    'status_invalid',
                    `the answer at ${where} is not a vigil-agent status: ${(err as Error).message}`,
                  ),
            );
          }
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(
        new VigilError('status_timeout', `no answer from ${where} within ${timeoutMs} ms`, {
          details: { exitCode: 3 },
        }),
      ),
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (isVigilError(err)) return reject(err);
      const down = err.code === 'ECONNREFUSED' || err.code === 'ENOENT';
      reject(
        down
          ? new VigilError(
              'daemon_not_running',
              `no vigil-agent daemon answers at ${where} (start it: systemctl start vigil-agent, or vigil-agent run)`,
              {
                details: { listen: where, exitCode: 3 },
              },
            )
          : new VigilError('status_failed', `cannot reach the daemon at ${where}: ${err.message}`, {
              details: { listen: where, exitCode: 3 },
            }),
      );
    });
    req.end();
  });
}
