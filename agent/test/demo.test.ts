import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { dynsecInstalled } from '../../cloud/broker/mosquitto-conf.js';

/**
 * `npm start` = bin/vigil-demo.js: a real collector and a real paired agent as child processes, a short generated
 * clip played once. The demo must print the web app's URL and an owner login that works (checked while the demo
 * runs, and the generated password on no command line), print an event the collector received over its live stream,
 * exit 0, and leave no process and no temporary folder behind.
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

/** POST /v1/session with the printed login, then the events list with the cookie; where the password shows up. */
async function tryLogin(
  url: string,
  email: string,
  password: string,
): Promise<{ login: number; events: number; onCommandLines: number[] }> {
  const onCommandLines = processesMentioning(password);
  const res = await fetch(`${url}/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const cookie = /^(vigil_session=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1] ?? '';
  const events = await fetch(`${url}/v1/events?limit=1`, { headers: { cookie } });
  return { login: res.status, events: events.status, onCommandLines };
}

describe('vigil-demo', () => {
  it('runs collector + paired agent on a short synthetic clip, prints a motion event from the live stream, exits 0 ' +
    'with nothing left behind', async () => {
    let loginChecked: Promise<{ login: number; events: number; onCommandLines: number[] }> | undefined;
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const proc = spawn(process.execPath, [BIN, '--exit-when-done', '--duration', '4', '--no-model'], {
        env: { ...process.env, VIGIL_AGENT_CONFIG: '', VIGIL_CLOUD_CONFIG: '', VIGIL_DATA_DIR: '' },
      });
      const killer = setTimeout(() => proc.kill('SIGKILL'), 120_000);
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const app = /^app {9}(http:\/\/127\.0\.0\.1:\d+)\/ /m.exec(stdout)?.[1];
        const login = /^login {7}(\S+) {3}password (\S+)$/m.exec(stdout);
        // log in as a browser would while the demo still runs
        if (app && login && !loginChecked) loginChecked = tryLogin(app, login[1]!, login[2]!);
      });
      proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      proc.on('close', (code) => {
        clearTimeout(killer);
        resolve({ code: code ?? 1, stdout, stderr });
      });
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.stdout;
    const dir = /data in (\S+) \(temporary/.exec(out)?.[1];
    expect(dir).toBeDefined();
    const url = /^collector {3}(http:\/\/127\.0\.0\.1:\d+)/m.exec(out)?.[1];
    expect(url).toBeDefined();
    // the web app and its owner login (generated password: 20 characters in groups of 5)
    expect(out).toMatch(/^app {9}http:\/\/127\.0\.0\.1:\d+\/ {3}\(the owner's web app/m);
    expect(out).toMatch(/^login {7}owner@vigil\.demo {3}password [A-Z2-9]{5}(-[A-Z2-9]{5}){3}$/m);
    expect(await loginChecked).toEqual({ login: 200, events: 200, onCommandLines: [] });
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
