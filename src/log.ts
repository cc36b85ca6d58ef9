// Owns the proxy's log output: one line per event, to stderr, with a timestamp and level.

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const at = (level: string) => (message: string) => write(`${new Date().toISOString()} ${level} ${message}\n`);
  return { info: at('info'), warn: at('warn'), error: at('error') };
}
