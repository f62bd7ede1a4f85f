import { ConfigError, loadConfig } from './config/index.js';
import { createLogger } from './observability/logger.js';
import { startTracing } from './observability/tracing.js';
import { startServer } from './runtime/server.js';

/** Process entry point: start, then drain on SIGTERM/SIGINT. */
async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`ampora: invalid configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.log.level);
  const tracing = startTracing(logger);

  // Handlers go in before start-up begins: a signal that arrives while the server is still starting
  // must wait for start-up to finish and then drain, not kill the process mid-migration.
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let stopRequested: string | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    stopRequested ??= signal;
    if (!server || stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server
      .close()
      .then(() => tracing.shutdown())
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  try {
    server = await startServer(config, logger);
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'failed to start');
    console.error(`ampora: ${(err as Error).message}`);
    process.exit(1);
  }
  if (stopRequested) stop(stopRequested);
}

void main();
