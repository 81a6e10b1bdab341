/**
 * A browser's side of the web app session for tests, over real HTTP: log in (POST /v1/session), keep the cookie the
 * collector set, send it back with or without the CSRF token and with the Origin a page would send; and a
 * server-sent events reader that keeps each message's `id:`.
 */
export interface SessionBody {
  user: { id: string; email: string; tenant: string; role: string };
  csrf_token: string;
  expires_at: string;
  idle_expires_at: string;
}

export interface Session {
  /** `vigil_session=<secret>`, as a browser would send it back. */
  cookie: string;
  /** The whole Set-Cookie header of the login. */
  setCookie: string;
  csrf: string;
  body: SessionBody;
}

export async function postLogin(
  url: string,
  email: string,
  password: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${url}/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email, password }),
  });
}

/** Logs in; throws unless the collector answered 200 with a cookie. */
export async function login(url: string, email: string, password: string): Promise<Session> {
  const res = await postLogin(url, email, password);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`login: ${res.status} ${text}`);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const pair = /^(vigil_session=[^;]+)/.exec(setCookie)?.[1];
  if (!pair) throw new Error(`login: no session cookie in "${setCookie}"`);
  const body = JSON.parse(text) as SessionBody;
  return { cookie: pair, setCookie, csrf: body.csrf_token, body };
}

export interface CookieInit extends RequestInit {
  /** Send X-CSRF-Token: true (the session's, default), false (none) or this value. */
  csrf?: boolean | string;
  /** Origin header to send (a same-origin fetch sends the collector's own). */
  origin?: string;
}

/** A request with the session cookie, as the web app (or a hostile page, with `origin`/`csrf`) makes it. */
export function cookieFetch(url: string, path: string, s: Session, init: CookieInit = {}): Promise<Response> {
  const { csrf = true, origin, ...rest } = init;
  const headers = new Headers(rest.headers);
  headers.set('cookie', s.cookie);
  if (csrf !== false) headers.set('x-csrf-token', csrf === true ? s.csrf : csrf);
  if (origin !== undefined) headers.set('origin', origin);
  if (rest.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
  return fetch(url + path, { ...rest, headers });
}

export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/** An open `text/event-stream` response, read in the background. */
export class SseReader {
  readonly messages: SseMessage[] = [];
  private waiters: Array<() => void> = [];
  private ended = false;
  private readonly done: Promise<void>;

  constructor(
    readonly res: Response,
    private readonly abort?: AbortController,
  ) {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    this.done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
            this.parse(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
          }
        }
      } catch {
        // aborted or the collector went away
      } finally {
        this.ended = true;
        this.notify();
      }
    })();
  }

  static async open(url: string, headers: Record<string, string>): Promise<SseReader> {
    const abort = new AbortController();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    if (res.status !== 200) throw new Error(`SSE ${url}: ${res.status} ${await res.text()}`);
    return new SseReader(res, abort);
  }

  private parse(block: string): void {
    const m: SseMessage = { id: undefined, event: 'message', data: '' };
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) m.id = line.slice(4);
      else if (line.startsWith('event: ')) m.event = line.slice(7);
      else if (line.startsWith('data: ')) m.data += line.slice(6);
    }
    if (m.data) {
      this.messages.push(m);
      this.notify();
    }
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves with the first message matching (already received or to come); rejects after `timeoutMs`. */
  async waitFor(match: (m: SseMessage) => boolean, timeoutMs = 10_000): Promise<SseMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      if (this.ended) throw new Error('SSE stream ended before the expected message');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching SSE message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves when the server ended the stream (rejects after `timeoutMs`). */
  async finished(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`SSE stream still open after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.abort?.abort();
    await this.done;
  }
}
