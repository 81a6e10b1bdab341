/**
 * A collector process for restart tests, used until `vigil-cloud serve` exists in the build: loads the config the
 * same way (file + env + flags) and runs createCloud. Prints one JSON line `{"listening": url}` when ready.
 *
 * For the poison-message restart test, its store fails, every time, to store the events named in
 * VIGIL_TEST_POISON_EVENT_IDS (comma-separated): a store hook throws inside their transaction, as a bug on the
 * collector's side would. Unset or empty, no hook is registered.
 *
 *   node --import tsx cloud/test/support-ingest/collector-entry.ts --data-dir DIR --port PORT [--config FILE]
 */
import { loadCloudConfig } from '../../config.js';
import { createCloud } from '../../server/app.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const poison = new Set((process.env.VIGIL_TEST_POISON_EVENT_IDS ?? '').split(',').filter((s) => s.length > 0));
const { config } = loadCloudConfig({
  file: arg('--config'),
  overrides: {
    data_dir: arg('--data-dir'),
    server: { host: '127.0.0.1', port: Number(arg('--port') ?? 0) },
    log: { level: 'warn' },
  },
});
const cloud = await createCloud(config);
if (poison.size > 0) {
  // Registered before any I/O callback runs: MQTT messages are handled only from the next turns of the event loop.
  cloud.store.onEventsStored(async (_x, stored) => {
    if (stored.eventIds.some((id) => poison.has(id))) throw new Error('poison message (test): storing it always fails');
  });
}
process.stdout.write(`${JSON.stringify({ listening: cloud.url })}\n`);
const stop = (): void => void cloud.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
