import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths whose values never reach a log line. Request logging adds headers and bodies under `req`,
 * so credentials are cut there as well as anywhere a caller passes them by name.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-ampora-pool-secret"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.secret',
  '*.token',
  '*.clientSecret',
  '*.masterKey',
  '*.privateKey',
  'password',
  'secret',
  'token',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'ampora' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
