import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { describeError, VigilError } from '../errors.js';
import { addConfigOptions, loadCliConfig, type ConfigCliOptions } from '../config.js';
import {
  FileFollower,
  formatEntry,
  logFilesOldestFirst,
  matchesFilter,
  parseLevel,
  parseLogLine,
  parseSince,
  readLines,
  useColour,
  type LogFilter,
} from '../logs/index.js';

/**
 * `vigil-agent logs`: the daemon's log, filtered and readable. Reads `log.file` (with its rotated files) when
 * one is configured or given with --file, else the journal (`journalctl -u vigil-agent -o cat`). JSON lines are
 * filtered by level (at least), component, camera and time and printed one per line; other lines (a crash trace,
 * ffmpeg noise) are printed as they are, unfiltered — and left out with --json, which passes the matching JSON
 * lines through unchanged.
 */
interface LogsOpts extends ConfigCliOptions {
  follow?: boolean;
  level?: string;
  component?: string[];
  camera?: string[];
  since?: string;
  file?: string;
  lines?: string;
  unit: string;
  json?: boolean;
}

const list = (value: string, previous: string[] = []): string[] => [
  ...previous,
  ...value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

function parseLines(text: string | undefined): number | undefined {
  if (text === undefined || text === 'all') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new VigilError('invalid_argument', `--lines must be a number ≥ 0 or "all", got "${text}"`, {
      details: { exitCode: 2 },
    });
  return n;
}

/** Prints entries; with a tail limit, history is held back and only its last N matching entries are printed. */
class Printer {
  private held: string[] | undefined;
  constructor(
    private readonly filter: LogFilter,
    private readonly json: boolean,
    private readonly colour: boolean,
    private readonly tail: number | undefined,
  ) {
    this.held = tail === undefined ? undefined : [];
  }

  line = (raw: string): void => {
    if (raw === '') return;
    const e = parseLogLine(raw);
    if (this.json && !e.json) return;
    if (!matchesFilter(e, this.filter)) return;
    const out = this.json ? e.raw : formatEntry(e, this.colour);
    if (this.held) {
      this.held.push(out);
      if (this.held.length > (this.tail ?? 0)) this.held.shift();
    } else process.stdout.write(out + '\n');
  };

  /** End of history: print what was held back; from now on lines go straight out. */
  release(): void {
    if (this.held) for (const l of this.held) process.stdout.write(l + '\n');
    this.held = undefined;
  }
}

function logFileFromConfig(o: LogsOpts): string | undefined {
  if (o.file) return o.file;
  try {
    return loadCliConfig(o).config.log.file;
  } catch (err) {
    process.stderr.write(`vigil-agent: the config could not be read (${describeError(err)}); reading the journal\n`);
    return undefined;
  }
}

function readFromFile(file: string, printer: Printer, follow: boolean): Promise<void> {
  if (!follow && logFilesOldestFirst(file).length === 0) {
    throw new VigilError('log_file_missing', `no log file at ${file} (nor rotated ${file}.1 …)`, { details: { file } });
  }
  const rotated = logFilesOldestFirst(file).filter((f) => f !== file);
  for (const f of rotated) readLines(f, printer.line);
  if (!follow) {
    if (existsSync(file)) readLines(file, printer.line);
    printer.release();
    return Promise.resolve();
  }
  // start() reads the live file's current content synchronously (history), then polls for new lines.
  const follower = new FileFollower(file, printer.line).start();
  printer.release();
  return new Promise((resolve) => {
    const stop = (): void => {
      follower.stop();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function readFromJournal(
  o: LogsOpts,
  printer: Printer,
  sinceMs: number | undefined,
  tail: number | undefined,
): Promise<void> {
  const bin = process.env.VIGIL_JOURNALCTL || 'journalctl';
  const args = ['-u', o.unit, '-o', 'cat', '--no-pager'];
  if (sinceMs !== undefined) args.push('--since', `@${Math.floor(sinceMs / 1000)}`);
  if (o.follow) args.push('-f', '-n', tail === undefined ? 'all' : String(tail));
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let rest = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) printer.line(l);
    });
    child.once('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      reject(
        code === 'ENOENT'
          ? new VigilError(
              'journal_unavailable',
              `no log file is configured (log.file) and ${bin} is not available; pass --file PATH`,
              { details: { journalctl: bin } },
            )
          : err,
      );
    });
    const stop = (): void => void child.kill('SIGTERM');
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    child.once('close', (code, signal) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (rest) printer.line(rest);
      printer.release();
      if (code === 0 || signal === 'SIGTERM') resolve();
      else
        reject(
          new VigilError('journal_failed', `${bin} ${args.join(' ')} exited with ${code ?? signal}`, {
            details: { journalctl: bin, exitCode: 1 },
          }),
        );
    });
  });
}

export function registerLogs(program: Command): void {
  addConfigOptions(program.command('logs'))
    .description("Show the agent's log (log.file with its rotated files, else the journal), filtered and readable")
    .option('-f, --follow', 'keep printing new entries (follows the file across rotation)')
    .option('--level <level>', 'only entries at least this severe: trace, debug, info, warn, error, fatal')
    .option('--component <names>', 'only these components (comma list, repeatable), e.g. camera,uplink', list)
    .option('--camera <names>', 'only entries about these cameras (comma list, repeatable)', list)
    .option('--since <when>', 'only entries from this time on: a duration back from now (10m, 2h, 1d) or a date/time')
    .option('--file <path>', 'read this log file instead of log.file / the journal')
    .option('-n, --lines <n>', 'print only the last N matching entries (default: all; 10 with --follow)')
    .option('--unit <name>', 'systemd unit whose journal is read', 'vigil-agent')
    .option('--json', 'print the matching JSON lines unchanged (lines that are not JSON are left out)')
    .action(async (o: LogsOpts) => {
      const sinceMs = o.since !== undefined ? parseSince(o.since) : undefined;
      const filter: LogFilter = {
        minLevel: o.level !== undefined ? parseLevel(o.level) : undefined,
        components: o.component,
        cameras: o.camera,
        sinceMs,
      };
      const tail = parseLines(o.lines ?? (o.follow ? '10' : undefined));
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0); // `vigil-agent logs | head`
        throw err;
      });
      const colour = !o.json && useColour(process.stdout);
      const file = logFileFromConfig(o);
      if (file) await readFromFile(file, new Printer(filter, o.json ?? false, colour, tail), o.follow ?? false);
      // Following the journal, journalctl's own -n picks the history; otherwise the last N are picked here.
      else
        await readFromJournal(
          o,
          new Printer(filter, o.json ?? false, colour, o.follow ? undefined : tail),
          sinceMs,
          tail,
        );
    });
}
