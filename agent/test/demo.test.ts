import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { dynsecInstalled } from '../../cloud/broker/mosquitto-conf.js';

/**
 * `npm start` = bin/vigil-demo.js: a real collector and a real paired agent as child processes, a short generated
 * clip played once. The demo must print an event the collector received over its live stream, exit 0, and leave
 * no process and no temporary folder behind.
 */

const BIN = join(projectRoot(), 'bin', 'vigil-demo.js');

/** Processes whose command line mentions `text` (the demo's data dir appears in every child's arguments). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('vigil-demo', () => {
  it('runs collector + paired agent on a short synthetic clip, prints a motion event from the live stream, exits 0 ' +
    'with nothing left behind', async () => {
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [BIN, '--exit-when-done', '--duration', '4', '--no-model'],
        {
          timeout: 120_000,
          env: { ...process.env, VIGIL_AGENT_CONFIG: '', VIGIL_CLOUD_CONFIG: '', VIGIL_DATA_DIR: '' },
        },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.stdout;
    const dir = /data in (\S+) \(temporary/.exec(out)?.[1];
    expect(dir).toBeDefined();
    const url = /^collector {3}(http:\/\/127\.0\.0\.1:\d+)/m.exec(out)?.[1];
    expect(url).toBeDefined();
    // the API line, the token and a curl example to browse
    expect(out).toMatch(/^API\s+http:\/\/127\.0\.0\.1:\d+\s+token vgt_\S+/m);
    expect(out).toMatch(/curl -H 'Authorization: Bearer vgt_\S+' 'http:\/\/127\.0\.0\.1:\d+\/v1\/events\?limit=5'/);
    // at least one motion event, as the collector's stream delivered it: time, camera, type, label, score, id
    expect(out).toMatch(/^ {2}\d\d:\d\d:\d\d {2}demo\s+new\s+motion\s+\d\.\d\d {2}evt_[0-9A-Z]{26} /m);
    expect(out).toMatch(new RegExp(`${url!.replace(/[.]/g, '\\.')}/v1/events/evt_[0-9A-Z]{26}/thumbnail`));
    expect(out).toMatch(/^done: [1-9]\d* event messages? received by the collector$/m);
    // children stopped, temp folder removed
    // With Mosquitto installed the demo runs the shipped broker config and the box sends over MQTT with its own login.
    const withBroker = dynsecInstalled();
    expect(/^broker {6}mqtt:\/\/127\.0\.0\.1:\d+ /m.test(out)).toBe(withBroker);
    expect(out).toContain(withBroker ? 'paired (over MQTT with its own broker login)' : 'paired (over HTTPS)');
    const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(withBroker ? 3 : 2);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
    expect(processesMentioning(dir!)).toEqual([]);
    expect(existsSync(dir!)).toBe(false);
  }, 150_000);
});
