import type { Command } from 'commander';
import { VigilError } from '../errors.js';
import { cliConfig, type ConfigOpts } from './common.js';

/**
 * `vigil-cloud serve [--config FILE] [--port N] [--data-dir DIR]`: runs the collector until SIGTERM/SIGINT, then
 * shuts down gracefully (stops accepting, finishes in-flight requests and MQTT messages, closes the database).
 * Prints `vigil-cloud listening on http(s)://…` once ready (besides the JSON log line), for scripts to parse.
 * SIGHUP re-reads the TLS certificate and key (`server.tls.*`) without closing the listener; it never stops serve.
 */
interface ServeOpts extends ConfigOpts {
  port?: string;
  host?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the collector (HTTP API + signed ingest; MQTT ingest when mqtt.url is set)')
    .option('-c, --config <file>', 'YAML config file (env VIGIL_CLOUD__* overrides it; flags override both)')
    .option('-p, --port <n>', 'HTTP port (0 = any free port)')
    .option('--host <address>', 'address to listen on')
    .option('-d, --data-dir <dir>', 'data directory (SQLite database, thumbnails, secrets key)')
    .action(async (o: ServeOpts) => {
      const server: Record<string, unknown> = {};
      if (o.port !== undefined) {
        if (!/^\d{1,5}$/.test(o.port) || Number(o.port) > 65535)
          throw new VigilError('invalid_argument', `--port must be 0-65535, got "${o.port}"`, {
            details: { exitCode: 2 },
          });
        server.port = Number(o.port);
      }
      if (o.host !== undefined) server.host = o.host;
      const config = cliConfig(o, Object.keys(server).length ? { server } : {});
      // Loaded on demand: the other subcommands need none of the server's dependencies.
      const { createCloud } = await import('../server/app.js');
      const cloud = await createCloud(config);
      process.stdout.write(`vigil-cloud listening on ${cloud.url}\n`);

      let stopping = false;
      const stop = (signal: NodeJS.Signals): void => {
        if (stopping) {
          process.stderr.write(`vigil-cloud: ${signal} again, exiting now\n`);
          process.exit(130);
        }
        stopping = true;
        cloud.app.log.info({ signal }, 'shutting down');
        cloud
          .close()
          .then(() => {
            process.stdout.write('vigil-cloud stopped\n');
            process.exit(0);
          })
          .catch((err: unknown) => {
            process.stderr.write(`vigil-cloud: shutdown failed: ${(err as Error).message}\n`);
            process.exit(1);
          });
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      process.on('SIGHUP', () => {
        if (stopping) return;
        if (!cloud.tls)
          return void cloud.app.log.info({ signal: 'SIGHUP' }, 'SIGHUP: no server.tls configured, nothing to reload');
        // Logged by the reload itself (success with the new expiry, or why the old certificate stays).
        cloud.tls.reload();
      });
    });
}
