import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** One server-sent event. */
export interface SseMessage {
  event: string;
  data: string;
}

/**
 * A minimal `text/event-stream` reader for the demo: connects with a bearer token and calls `onMessage` per
 * event (comments and keep-alives skipped). Resolves once connected; `close()` ends it.
 */
export function subscribeSse(
  url: string,
  token: string,
  onMessage: (m: SseMessage) => void,
): Promise<{ close(): void }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : request)(
      u,
      { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (data.length > 0) onMessage({ event, data: data.join('\n') });
          }
        });
        res.on('error', () => undefined);
        resolve({ close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
