import { Agent, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { sqliteBackend } from './support/backends.js';
import { startTestCloud } from './support/cloud.js';

/**
 * Found while testing `vigil-cloud serve` under SIGTERM: a keep-alive connection whose request was still in flight
 * when shutdown began turned idle only afterwards, and nothing closed it, so shutdown waited for the keep-alive
 * timeout (72 s) instead of ending as soon as the request was answered.
 */
describe('shutdown', () => {
  it('does not wait for a keep-alive connection whose request was answered after close began', async () => {
    const t = await startTestCloud(sqliteBackend);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const url = new URL(t.url + '/v1/pair');
      const body = JSON.stringify({ v: 1, code: 'ZZZZ-ZZZZ' });
      let status = 0;
      const answered = new Promise<void>((resolve, reject) => {
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': body.length },
          },
          (res) => {
            status = res.statusCode ?? 0;
            res.resume();
            res.on('end', resolve);
          },
        );
        req.on('error', reject);
        // Half the body now: the request is in flight when close begins; the rest right after.
        req.write(body.slice(0, 5));
        setTimeout(() => req.end(body.slice(5)), 300);
      });
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      const closed = t.close().then(() => Date.now() - started);
      await answered;
      expect(status).toBe(400);
      // Without the fix this takes the 72 s keep-alive timeout (the test would time out first).
      expect(await closed).toBeLessThan(20_000);
    } finally {
      agent.destroy();
    }
  });
});
