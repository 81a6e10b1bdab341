import type { Command } from 'commander';
import { vigilVersion } from '../../shared/cli/index.js';
import { describeError, type VigilError } from '../errors.js';
import { addConfigOptions, loadCliConfig, type ConfigCliOptions, type LoadedAgentConfig } from '../config.js';
import { Daemon, isConfigError } from '../daemon/index.js';
import { createAgentLogger } from '../logs/index.js';

/**
 * `vigil-agent run`: the daemon (what systemd starts). Exit codes: 0 stopped cleanly (SIGTERM/SIGINT, or idle with
 * --exit-when-idle); 78 (EX_CONFIG) the config, credentials or model need fixing — restarting cannot help; 1 any
 * other failure to start or to stop in time; 130 a second signal during shutdown.
 */
interface RunOptions extends ConfigCliOptions {
  exitWhenIdle?: boolean;
}

/** systemd's TimeoutStopSec is 45 s; past this the daemon gives up on a clean stop itself. */
const SHUTDOWN_BUDGET_MS = 30_000;
export const EX_CONFIG = 78;

function asStartError(err: unknown): unknown {
  if (!isConfigError(err)) return err;
  const e = err as VigilError;
  return e.withDetails({ exitCode: EX_CONFIG });
}

export function registerRun(program: Command): void {
  addConfigOptions(
    program
      .command('run')
      .description(
        'Run the agent: watch the cameras, detect, and send events to the collector (SIGHUP reloads the config, ' +
          'SIGTERM stops cleanly)',
      ),
  )
    .option(
      '--exit-when-idle',
      'exit 0 once every file/lavfi camera has ended and the outbox has nothing left to send (tests, demos)',
    )
    .action(async (opts: RunOptions) => {
      let first: LoadedAgentConfig | undefined;
      try {
        first = loadCliConfig(opts);
      } catch (err) {
        throw asStartError(err);
      }
      const { logger, destination } = createAgentLogger(first.config.log, 'agent');
      const daemon = new Daemon({
        loadConfig: () => {
          // The first load was just done (and validated); later ones (SIGHUP) read the file again.
          const loaded = first ?? loadCliConfig(opts);
          first = undefined;
          return loaded;
        },
        logger,
        version: vigilVersion(),
        exitWhenIdle: opts.exitWhenIdle === true,
      });
      const exit = (code: number): never => {
        destination.close();
        process.exit(code);
      };
      let signals = 0;
      let started = false;
      const onStop = (signal: NodeJS.Signals): void => {
        signals++;
        if (!started) {
          // Nothing runs yet (no camera, no send): the outbox is crash-safe, so leaving now loses nothing.
          logger.info({ signal }, 'stopped before start-up finished');
          exit(0);
        }
        if (signals > 1) {
          logger.warn(
            { signal },
            'second signal: exiting now (the outbox is crash-safe; un-acked items are re-sent at the next start)',
          );
          exit(130);
        }
        logger.info({ signal }, 'stopping');
        setTimeout(() => {
          logger.error({ budget_ms: SHUTDOWN_BUDGET_MS }, 'clean stop took too long: exiting');
          exit(1);
        }, SHUTDOWN_BUDGET_MS).unref();
        void daemon.stop();
      };
      const onHup = (): void => {
        destination.reopen();
        void daemon.reload();
      };
      process.on('SIGTERM', onStop);
      process.on('SIGINT', onStop);
      process.on('SIGHUP', onHup);
      try {
        await daemon.start();
        started = true;
      } catch (err) {
        logger.fatal({ err: describeError(err) }, 'vigil-agent could not start');
        destination.flush();
        throw asStartError(err);
      }
      const reason = await daemon.done;
      logger.info({ reason }, 'exit');
      exit(0);
    });
}
