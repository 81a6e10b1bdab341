import { execFile } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import * as logs from '../logs/index.js';

const BIN = join(projectRoot(), 'bin', 'vigil-agent.js');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-logs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function agent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, VIGIL_AGENT_CONFIG: '', VIGIL_DATA_DIR: '', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

const T0 = Date.parse('2026-01-01T12:00:00.000Z');
const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();
const line = (o: Record<string, unknown>): string => JSON.stringify({ pid: 7, ...o });

/** A fixture log as the daemon writes it: pino JSON with component/camera, plus a stray non-JSON line. */
const FIXTURE =
  [
    line({ level: 'info', time: at(0), component: 'agent', msg: 'starting', version: '0.1.0' }),
    line({ level: 'debug', time: at(1), component: 'camera', camera: 'door', msg: 'ffmpeg args', args: ['-i', 'x'] }),
    line({
      level: 'warn',
      time: at(2),
      component: 'camera',
      camera: 'door',
      msg: 'camera stalled',
      last_frame_age_s: 12.5,
    }),
    'ffmpeg: [rtsp @ 0x55] method DESCRIBE failed: 401 Unauthorized',
    line({ level: 'info', time: at(3), component: 'camera', camera: 'yard', msg: 'camera running', fps: 5 }),
    line({
      level: 'error',
      time: at(4),
      component: 'uplink',
      msg: 'send failed',
      err: { type: 'VigilError', code: 'network_error', message: 'connect ECONNREFUSED' },
    }),
    line({ level: 50, time: T0 + 5 * 60_000, component: 'outbox', msg: 'disk budget reached', note: 'two words' }),
  ].join('\n') + '\n';

describe('log entries', () => {
  it('parses pino lines (label or numeric level, ISO or epoch time) and keeps other text raw', () => {
    const lines = FIXTURE.trim().split('\n');
    const e = logs.parseLogLine(lines[2] as string);
    expect(e).toMatchObject({
      level: 40,
      timeMs: T0 + 120_000,
      component: 'camera',
      camera: 'door',
      msg: 'camera stalled',
    });
    expect(logs.parseLogLine(lines[6] as string)).toMatchObject({
      level: 50,
      timeMs: T0 + 300_000,
      component: 'outbox',
    });
    const raw = logs.parseLogLine(lines[3] as string);
    expect(raw.json).toBeUndefined();
    expect(logs.formatEntry(raw, true)).toBe(lines[3]);
    expect(logs.parseLogLine('{not json').json).toBeUndefined();
    expect(logs.parseLogLine('[1,2]').json).toBeUndefined();
  });

  it('formats one line: time, level, component, camera, message, extras (errors as type: code: message)', () => {
    const lines = FIXTURE.trim().split('\n');
    expect(logs.formatEntry(logs.parseLogLine(lines[2] as string), false)).toBe(
      '2026-01-01T12:02:00.000Z WARN  camera    [door] camera stalled last_frame_age_s=12.5',
    );
    expect(logs.formatEntry(logs.parseLogLine(lines[5] as string), false)).toBe(
      '2026-01-01T12:04:00.000Z ERROR uplink    send failed err="VigilError: network_error: connect ECONNREFUSED"',
    );
    expect(logs.formatEntry(logs.parseLogLine(lines[6] as string), false)).toBe(
      '2026-01-01T12:05:00.000Z ERROR outbox    disk budget reached note="two words"',
    );
    expect(logs.formatEntry(logs.parseLogLine(lines[1] as string), false)).toContain('args=["-i","x"]');
    const coloured = logs.formatEntry(logs.parseLogLine(lines[2] as string), true);
    expect(coloured).toContain('\x1b[33mWARN ');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colour escapes (ESC is the point)
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(
      logs.formatEntry(logs.parseLogLine(lines[2] as string), false),
    );
  });

  it('filters by least level, component, camera and time; a missing field does not pass its filter', () => {
    const entries = FIXTURE.trim().split('\n').map(logs.parseLogLine);
    const msgs = (f: Parameters<typeof logs.matchesFilter>[1]): (string | undefined)[] =>
      entries.filter((e) => e.json && logs.matchesFilter(e, f)).map((e) => e.msg);
    expect(msgs({ minLevel: logs.parseLevel('warn') })).toEqual([
      'camera stalled',
      'send failed',
      'disk budget reached',
    ]);
    expect(msgs({ components: ['camera'] })).toEqual(['ffmpeg args', 'camera stalled', 'camera running']);
    expect(msgs({ cameras: ['door'] })).toEqual(['ffmpeg args', 'camera stalled']);
    expect(msgs({ sinceMs: T0 + 3 * 60_000 })).toEqual(['camera running', 'send failed', 'disk budget reached']);
    expect(msgs({ minLevel: 30, components: ['camera'], cameras: ['door', 'yard'] })).toEqual([
      'camera stalled',
      'camera running',
    ]);
    expect(logs.matchesFilter(entries[3]!, { minLevel: 60 })).toBe(true);
  });

  it('parses --level, --since and decides colour', () => {
    expect(logs.parseLevel('ERROR')).toBe(50);
    expect(logs.parseLevel('40')).toBe(40);
    expect(() => logs.parseLevel('loud')).toThrow(/--level must be one of/);
    expect(logs.parseSince('10m', T0)).toBe(T0 - 600_000);
    expect(logs.parseSince('2026-01-01T11:00:00Z', T0)).toBe(T0 - 3_600_000);
    expect(logs.parseSince('2026-01-01 11:00:00Z', T0)).toBe(T0 - 3_600_000);
    expect(() => logs.parseSince('yesterday-ish')).toThrow(/--since must be/);
    expect(logs.useColour({ isTTY: true }, {})).toBe(true);
    expect(logs.useColour({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(logs.useColour({ isTTY: false }, {})).toBe(false);
  });
});

describe('rotating log file', () => {
  it('rotates by size, keeps max_files rotated files, and loses no line', () => {
    const file = join(dir, 'agent.log');
    const s = new logs.RotatingFileStream({ file, maxBytes: 1000, maxFiles: 3 });
    const lines = Array.from({ length: 200 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(40)}"}\n`);
    for (const l of lines) s.write(l);
    s.end();
    expect(s.rotations).toBeGreaterThan(3);
    expect(logs.logFilesOldestFirst(file)).toEqual([`${file}.3`, `${file}.2`, `${file}.1`, file]);
    expect(existsSync(`${file}.4`)).toBe(false);
    const kept = logs.logFilesOldestFirst(file).flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean));
    for (const f of logs.logFilesOldestFirst(file)) expect(readFileSync(f).length).toBeLessThanOrEqual(1000);
    const ns = kept.map((l) => (JSON.parse(l) as { n: number }).n);
    // the newest lines, contiguous, in order, ending with the last one written
    expect(ns.at(-1)).toBe(199);
    expect(ns).toEqual(Array.from({ length: ns.length }, (_, i) => 200 - ns.length + i));
  });

  it('is what the daemon logger writes to, besides stdout, with secrets redacted', () => {
    const file = join(dir, 'd.log');
    const stdout: string[] = [];
    const { logger, destination } = logs.createAgentLogger(
      { level: 'debug', file, max_size: '1MiB', max_files: 2 },
      'agent',
      { stdout: { write: (s: string) => void stdout.push(s) } },
    );
    logger.debug({ camera: 'door', secret_b64: 'TOPSECRET' }, 'hello');
    logger.trace('not at this level');
    destination.close();
    const written = readFileSync(file, 'utf8').trim().split('\n');
    expect(written).toHaveLength(1);
    expect(JSON.parse(written[0] as string)).toMatchObject({
      level: 'debug',
      component: 'agent',
      camera: 'door',
      msg: 'hello',
      secret_b64: '[redacted]',
    });
    expect(stdout.join('')).toBe(written[0] + '\n');
  });
});

describe('following a log file', () => {
  it('delivers every line exactly once, in order, across rotations and a truncation', () => {
    const file = join(dir, 'f.log');
    const got: string[] = [];
    const s = new logs.RotatingFileStream({ file, maxBytes: 300, maxFiles: 2 });
    s.write('{"n":-1}\n');
    const f = new logs.FileFollower(file, (l) => got.push(l));
    f.check();
    for (let i = 0; i < 100; i++) {
      s.write(`{"n":${i},"pad":"${'y'.repeat(30)}"}\n`);
      // check only every few lines so that some rotations happen between two checks
      if (i % 4 === 3) f.check();
    }
    f.check();
    s.end();
    expect(s.rotations).toBeGreaterThan(5);
    expect(f.rotations).toBeGreaterThan(5);
    expect(got.map((l) => (JSON.parse(l) as { n: number }).n)).toEqual(Array.from({ length: 101 }, (_, i) => i - 1));

    // truncated in place (copytruncate): read again from the start
    writeFileSync(file, '');
    f.check();
    appendFileSync(file, '{"n":1000}\n');
    f.check();
    expect(got.at(-1)).toBe('{"n":1000}');
    f.stop();
  });

  it('catches up with several rotations between two checks, reading the files rotated in between', () => {
    const file = join(dir, 'm.log');
    const got: number[] = [];
    const s = new logs.RotatingFileStream({ file, maxBytes: 100, maxFiles: 12 });
    const f = new logs.FileFollower(file, (l) => got.push((JSON.parse(l) as { n: number }).n));
    s.write('{"n":0}\n');
    f.check();
    // 2 lines a file: 10 rotations, all kept
    for (let i = 1; i <= 20; i++) s.write(`{"n":${i},"p":"${'z'.repeat(20)}"}\n`);
    expect(s.rotations).toBeGreaterThanOrEqual(5);
    f.check();
    expect(got).toEqual(Array.from({ length: 21 }, (_, i) => i));
    f.stop();
    s.end();
  });

  it('waits for a line to be finished and for a rotated-away file to come back', () => {
    const file = join(dir, 'g.log');
    const got: string[] = [];
    writeFileSync(file, '{"a":1}\n{"a":');
    const f = new logs.FileFollower(file, (l) => got.push(l));
    f.check();
    expect(got).toEqual(['{"a":1}']);
    appendFileSync(file, '2}\n');
    renameSync(file, `${file}.1`);
    f.check(); // no file under the name right now
    appendFileSync(`${file}.1`, '{"a":3}\n'); // the writer still had it open
    writeFileSync(file, '{"a":4}\n');
    f.check();
    expect(got).toEqual(['{"a":1}', '{"a":2}', '{"a":3}', '{"a":4}']);
    f.stop();
  });
});

describe('vigil-agent logs', () => {
  function fixtureFiles(): string {
    const file = join(dir, 'agent.log');
    const lines = FIXTURE.trim().split('\n');
    // the first two lines were rotated out
    writeFileSync(`${file}.1`, lines.slice(0, 2).join('\n') + '\n');
    writeFileSync(file, lines.slice(2).join('\n') + '\n');
    return file;
  }

  it('prints every kept file oldest first, filtered, one line per entry, without colour when not a TTY', async () => {
    const file = fixtureFiles();
    const all = await agent(['logs', '--file', file]);
    expect(all.code).toBe(0);
    const out = all.stdout.trim().split('\n');
    expect(out).toHaveLength(7);
    expect(out[0]).toBe('2026-01-01T12:00:00.000Z INFO  agent     starting version=0.1.0');
    expect(out[3]).toBe('ffmpeg: [rtsp @ 0x55] method DESCRIBE failed: 401 Unauthorized');
    expect(all.stdout).not.toContain('\x1b[');

    // lines that are not JSON have no level to judge: shown (a crash trace matters most when looking at errors)
    const warn = await agent(['logs', '--file', file, '--level', 'warn']);
    const warnLines = warn.stdout.trim().split('\n');
    expect(warnLines.map((l) => l.slice(25, 30).trim())).toEqual(['WARN', 'hod D', 'ERROR', 'ERROR']);
    expect(warnLines[1]).toBe(out[3]);

    const door = await agent(['logs', '--file', file, '--component', 'camera', '--camera', 'door', '--json']);
    const doorLines = door.stdout.trim().split('\n');
    expect(doorLines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['ffmpeg args', 'camera stalled']);
    expect(doorLines[1]).toBe(FIXTURE.split('\n')[2]);

    const recent = await agent(['logs', '--file', file, '--since', '2026-01-01T12:03:00Z', '--json']);
    expect(
      recent.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { msg: string }).msg),
    ).toEqual(['camera running', 'send failed', 'disk budget reached']);

    const last = await agent(['logs', '--file', file, '-n', '2', '--component', 'camera']);
    expect(last.stdout.trim().split('\n')).toEqual([
      '2026-01-01T12:02:00.000Z WARN  camera    [door] camera stalled last_frame_age_s=12.5',
      '2026-01-01T12:03:00.000Z INFO  camera    [yard] camera running fps=5',
    ]);

    const bad = await agent(['logs', '--file', file, '--level', 'loud']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(
      'vigil-agent: error: invalid_argument: --level must be one of trace, debug, info, warn, error, fatal, got "loud"',
    );
  });

  it('reads log.file from the config', async () => {
    const file = fixtureFiles();
    const config = join(dir, 'agent.yaml');
    writeFileSync(config, `log:\n  file: ${file}\n`);
    const r = await agent(['logs', '--config', config, '--component', 'outbox']);
    expect(r.stdout.trim()).toBe('2026-01-01T12:05:00.000Z ERROR outbox    disk budget reached note="two words"');
  });

  it('without a log file reads the journal (journalctl -u vigil-agent -o cat) through the same filters', async () => {
    const fake = join(dir, 'journalctl');
    const argsFile = join(dir, 'args');
    writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$@" > ${argsFile}\ncat <<'EOF'\n${FIXTURE}EOF\n`);
    chmodSync(fake, 0o755);
    const config = join(dir, 'empty.yaml');
    writeFileSync(config, 'data_dir: /tmp\n');
    const r = await agent(
      ['logs', '--config', config, '--since', '2026-01-01T12:03:00Z', '--level', 'error', '--json'],
      { VIGIL_JOURNALCTL: fake },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { msg: string }).msg),
    ).toEqual(['send failed', 'disk budget reached']);
    const args = readFileSync(argsFile, 'utf8').trim().split('\n');
    expect(args.slice(0, 5)).toEqual(['-u', 'vigil-agent', '-o', 'cat', '--no-pager']);
    expect(args[5]).toBe('--since');
    expect(args[6]).toBe(`@${(T0 + 180_000) / 1000}`);
    expect(args).not.toContain('-f');

    const missing = await agent(['logs', '--config', config], { VIGIL_JOURNALCTL: join(dir, 'no-such-journalctl') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('journal_unavailable: no log file is configured (log.file)');
  });

  it("-f prints the last entries, then new ones, across a rotation by the daemon's own rotating stream", async () => {
    const file = join(dir, 'live.log');
    const s = new logs.RotatingFileStream({ file, maxBytes: 400, maxFiles: 10 });
    for (let i = 0; i < 15; i++)
      s.write(line({ level: 'info', time: at(i), component: 'agent', msg: `old ${i}` }) + '\n');
    const child = execFile(process.execPath, [BIN, 'logs', '-f', '--file', file, '--json', '-n', '3'], {
      env: { ...process.env, VIGIL_AGENT_CONFIG: '' },
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const msgs = (): string[] =>
      out
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
    const waitFor = async (n: number): Promise<void> => {
      for (let i = 0; i < 200 && msgs().length < n; i++) await new Promise((r) => setTimeout(r, 50));
    };
    try {
      await waitFor(3);
      expect(msgs()).toEqual(['old 12', 'old 13', 'old 14']);
      const before = s.rotations;
      for (let i = 0; i < 20; i++)
        s.write(line({ level: 'info', time: at(100 + i), component: 'agent', msg: `new ${i}` }) + '\n');
      expect(s.rotations).toBeGreaterThan(before);
      await waitFor(23);
      expect(msgs()).toEqual(['old 12', 'old 13', 'old 14', ...Array.from({ length: 20 }, (_, i) => `new ${i}`)]);
    } finally {
      child.kill('SIGINT');
      s.end();
      await new Promise((r) => child.once('exit', r));
    }
  });
});
