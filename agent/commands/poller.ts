import type { Dispatcher, Pool } from 'undici';
import { abortableSleep, type Clock } from '../../shared/clock/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { signHttpRequest, type DeviceCredentials } from '../../shared/signing/index.js';
import { validateCommandPoll } from '../../firmware-protocol/messages.js';
import { describeError } from '../errors.js';
import { backoffDelayMs, type BackoffPolicy } from '../outbox/backoff.js';
import {
  commandsPollPath,
  COMMANDS_POLL_WAIT_DEFAULT_S,
  COMMANDS_POLL_WAIT_MAX_S,
} from '../../firmware-protocol/http.js';
import { httpsPool, type ClientTls } from '../uplink/https-client.js';
import { retryAfterMs } from '../uplink/https-transport.js';
import type { CommandSink } from '../uplink/types.js';

export interface CommandPollerOptions {
  /** Collector base URL (uplink.https_url). */
  baseUrl: string;
  identity: DeviceCredentials;
  /** The uplink's corrected clock (the request is signed with it). */
  clock: Clock;
  sink: CommandSink;
  tls?: ClientTls | undefined;
  /** How long the collector may hold one poll open, seconds (protocol: at most 30; default 25). */
  waitS?: number;
  /** Pause after a failed poll, doubling per failure in a row. Default 1 s … 60 s. */
  backoff?: BackoffPolicy;
  /** Pause after a 404 (a collector without commands), default 5 min. */
  unsupportedPauseMs?: number;
  /** Least time between two polls that brought nothing (a collector answering at once), default 1 s. */
  minIntervalMs?: number;
  logger?: Logger;
}

/**
 * Commands for a box on HTTPS only (PROTOCOL.md §6): a signed long-poll `GET /v1/devices/{id}/commands?wait=25`,
 * again and again. The collector holds it until a command is waiting (or `wait` passes) and answers a CommandPoll:
 * signed envelopes, each handed to the sink (the command executor, which verifies it and dedupes ids) in order.
 * A failed poll backs off; a 404 (a collector from before commands) waits minutes and is logged once.
 */
export class CommandPoller {
  private readonly pool: Pool;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private failures = 0;
  private unsupportedLogged = false;
  readonly metrics = { polls: 0, commands: 0, failures: 0 };

  constructor(private readonly o: CommandPollerOptions) {
    const url = new URL(o.baseUrl);
    this.prefix = url.pathname.replace(/\/+$/, '');
    const waitMs = this.waitS * 1000;
    // Headers come only when the collector answers: allow the whole wait plus a margin.
    this.pool = httpsPool(url.origin, { tls: o.tls, timeoutMs: waitMs + 15_000, connections: 1 });
    this.log = o.logger ?? silentLogger();
  }

  private get waitS(): number {
    return Math.max(0, Math.min(COMMANDS_POLL_WAIT_MAX_S, this.o.waitS ?? COMMANDS_POLL_WAIT_DEFAULT_S));
  }

  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const t0 = Date.now();
      const pause = await this.pollOnce();
      if (signal.aborted) break;
      const gap = pause ?? Math.max(0, (this.o.minIntervalMs ?? 1_000) - (Date.now() - t0));
      if (gap > 0) await abortableSleep(gap, signal);
    }
  }

  /**
   * One poll. Returns how long to pause before the next one: undefined after an answer (the next poll goes at once
   * when it brought commands, else after `minIntervalMs` from this one's start).
   */
  private async pollOnce(): Promise<number | undefined> {
    const path = this.prefix + commandsPollPath(this.o.identity.deviceId, this.waitS);
    const headers = signHttpRequest(this.o.identity, 'GET', path, Buffer.alloc(0), { clock: this.o.clock });
    this.metrics.polls++;
    let res: Dispatcher.ResponseData;
    let text: string;
    try {
      res = await this.pool.request({ method: 'GET', path, headers, signal: this.abort.signal });
      text = await res.body.text();
    } catch (err) {
      if (this.abort.signal.aborted) return 0;
      return this.failed(`the command poll failed: ${describeError(err)}`);
    }
    if (res.statusCode === 404) {
      this.metrics.failures++;
      if (!this.unsupportedLogged) {
        this.unsupportedLogged = true;
        this.log.warn('commands: the collector has no command endpoint (404); asking again every few minutes');
      }
      return this.o.unsupportedPauseMs ?? 300_000;
    }
    if (res.statusCode !== 200) {
      // A collector asking to wait (429/503 with Retry-After) gets at least that wait.
      const header = res.headers['retry-after'];
      const asked = retryAfterMs(Array.isArray(header) ? header[0] : header, Date.now()) ?? 0;
      return Math.max(asked, this.failed(`the command poll answered HTTP ${res.statusCode}: ${text}`));
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return this.failed('the command poll answer is not JSON');
    }
    const issues = validateCommandPoll.issues(value);
    if (issues.length > 0) return this.failed(`the command poll answer is not a CommandPoll: ${issues[0]?.message}`);
    this.failures = 0;
    const { commands } = validateCommandPoll.parse(value);
    for (const env of commands) {
      this.metrics.commands++;
      await this.o.sink(Buffer.from(JSON.stringify(env), 'utf8'), { transport: 'https' });
    }
    return commands.length > 0 ? 0 : undefined;
  }

  private failed(why: string): number {
    this.metrics.failures++;
    this.failures++;
    const delay = backoffDelayMs(this.failures, this.o.backoff ?? { baseMs: 1_000, maxMs: 60_000 });
    const line = 'commands: poll failed; trying again';
    this.log[this.failures === 1 ? 'warn' : 'debug']({ err: why.slice(0, 300), retry_in_ms: delay }, line);
    return delay;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.pool.close().catch(() => this.pool.destroy());
  }
}
