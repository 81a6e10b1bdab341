import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../../shared/paths/index.js';
import type { LocalS3 } from '../support/s3.js';

/**
 * s3rver (dev dependency) in a process of its own on a free loopback port, with one bucket. Unlike the in-process
 * server of support/s3.ts it outlives what an upload cut off by a killed collector does to s3rver (an uncaught
 * ENOENT on its temporary file), and its CPU is not the test's.
 */
const ENTRY = `
const S3rver = require('s3rver');
process.on('uncaughtException', (err) => process.stderr.write('s3rver: ' + err.message + '\\n'));
const [directory, bucket] = process.argv.slice(1);
new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] })
  .run()
  .then((a) => process.stdout.write('port ' + a.port + '\\n'));
`;

export async function startS3Process(bucket = 'vigil-test'): Promise<LocalS3 & { pid: number | undefined }> {
  const directory = mkdtempSync(join(tmpdir(), 'vigil-s3-'));
  const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
  const child = spawn(process.execPath, ['-e', ENTRY, directory, bucket], { cwd: projectRoot(), stdio });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code}): ${err}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    pid: child.pid,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
