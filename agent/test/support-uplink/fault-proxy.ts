import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of a collector that injects faults: `pass` forwards, `error500` answers 500 without
 * forwarding, `unavailable` answers 503 with Retry-After, `hang` holds the request until the client times out.
 */
export type ProxyMode = 'pass' | 'error500' | 'unavailable' | 'hang';

export class FaultProxy {
  mode: ProxyMode = 'pass';
  readonly counts: Record<ProxyMode, number> = { pass: 0, error500: 0, unavailable: 0, hang: 0 };
  private server: Server | undefined;
  private readonly hung = new Set<ServerResponse>();

  constructor(private readonly target: string) {}

  async listen(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const mode = this.mode;
    this.counts[mode]++;
    const json = (status: number, code: string, headers: Record<string, string> = {}): void => {
      req.resume();
      res.writeHead(status, { 'content-type': 'application/json', date: new Date().toUTCString(), ...headers });
      res.end(JSON.stringify({ error: { code, message: 'injected by the fault proxy', request_id: 'proxy' } }));
    };
    if (mode === 'error500') {
      json(500, 'internal_error');
      return;
    }
    if (mode === 'unavailable') {
      json(503, 'service_unavailable', { 'retry-after': '1' });
      return;
    }
    if (mode === 'hang') {
      req.resume();
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    const url = new URL(req.url ?? '/', this.target);
    const up = request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => json(502, 'bad_gateway'));
    req.pipe(up);
  }

  async close(): Promise<void> {
    for (const r of this.hung) r.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
