// ztunnel's logger for everything but the access log: JSON lines {time, level, msg, component, ...}
// at the level config.ts resolved (--log-level / AMBIT_LOG_LEVEL).

import { createLogger, type LogSink, type Logger, type LogLevel } from '@ambit/core/log';

export function createZtunnelLogger(opts: {
  level: LogLevel;
  out?: LogSink;
  now?: () => number;
}): Logger {
  return createLogger({ ...opts, fields: { component: 'ztunnel' } });
}
