/**
 * A client of `GET /v1/events/stream` that records every server-sent event with its arrival time, for checks that
 * a collector's live feed saw what the others stored. It stays open until `close()` or until the collector goes
 * away (`closedAt` is then set).
 */
export interface LiveMessage {
  event: string;
  /** `id` of the JSON data (the event id, or the device id for device.status). */
  id: string;
  data: Record<string, unknown>;
  at: number;
}

export class LiveFeed {
  readonly messages: LiveMessage[] = [];
  openedAt = 0;
  closedAt: number | undefined;
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();

  private constructor(
    readonly name: string,
    private readonly url: string,
    private readonly token: string,
  ) {}

  /** Resolves once the stream is open (the server's `: connected` comment arrived). */
  static async open(name: string, baseUrl: string, token: string): Promise<LiveFeed> {
    const feed = new LiveFeed(name, `${baseUrl}/v1/events/stream`, token);
    await feed.start();
    return feed;
  }

  private async start(): Promise<void> {
    const headers = { authorization: `Bearer ${this.token}`, accept: 'text/event-stream' };
    const res = await fetch(this.url, { headers, signal: this.abort.signal });
    if (res.status !== 200 || !res.body) throw new Error(`${this.name}: live stream answered ${res.status}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let connected!: () => void;
    const ready = new Promise<void>((r) => (connected = r));
    this.done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            if (block.includes(': connected')) {
              this.openedAt = Date.now();
              connected();
            }
            this.parse(block);
          }
        }
      } catch {
        // the collector went away (killed) or close() aborted the request
      } finally {
        this.closedAt ??= Date.now();
        connected();
      }
    })();
    await ready;
    if (this.closedAt !== undefined) throw new Error(`${this.name}: live stream closed before it opened`);
  }

  private parse(block: string): void {
    let event = '';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (!event || !data) return;
    const parsed = JSON.parse(data) as Record<string, unknown>;
    this.messages.push({ event, id: String(parsed.id ?? ''), data: parsed, at: Date.now() });
  }

  /** Messages about one event (event.new / event.updated). */
  about(eventId: string): LiveMessage[] {
    return this.messages.filter((m) => m.id === eventId && m.event.startsWith('event.'));
  }

  async close(): Promise<void> {
    this.closedAt ??= Date.now();
    this.abort.abort();
    await this.done;
  }
}
