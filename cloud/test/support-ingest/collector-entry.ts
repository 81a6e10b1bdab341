/**
 * A collector process for restart tests, used until `vigil-cloud serve` exists in the build: loads the config the
 * same way (file + env + flags) and runs createCloud. Prints one JSON line `{"listening": url}` when ready.
 *
 *   node --import tsx cloud/test/support-ingest/collector-entry.ts --data-dir DIR --port PORT [--config FILE]
 */
import { loadCloudConfig } from '../../config.js';
import { createCloud } from '../../server/app.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const { config } = loadCloudConfig({
  file: arg('--config'),
  overrides: {
    data_dir: arg('--data-dir'),
    server: { host: '127.0.0.1', port: Number(arg('--port') ?? 0) },
    log: { level: 'warn' },
  },
});
const cloud = await createCloud(config);
process.stdout.write(`${JSON.stringify({ listening: cloud.url })}\n`);
const stop = (): void => void cloud.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
