// Owns reading a .config file: dotenv syntax where every line is KEY=value, a comment or blank, and anything else an error.
import { ConfigError } from './errors.ts';

/** One `KEY=value` of the file, with the line it starts on (for messages). */
export interface ConfigFileEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

// `export ` is optional, as in shell-sourced env files; keys take dotenv's characters so that a
// misspelt key reads as an unknown setting, not as a malformed line.
const ASSIGNMENT = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=(.*)$/;
const QUOTES = '"\'`';
const SHOWN_CHARS = 80;

/**
 * Parses dotenv text as dotenv and Node's parseEnv read it — `#` comments (also after an unquoted
 * value), values in "double", 'single' or `backtick` quotes that may span lines, `\n` and `\r`
 * escapes inside double quotes — except that a line they would silently skip (`CACHE_EXPIRY 5`,
 * an unclosed quote, text after a closing quote) is a ConfigError naming the file and line.
 * A key given twice takes its last value.
 */
export function parseConfigFile(text: string, file: string): ConfigFileEntry[] {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const entries: ConfigFileEntry[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const trimmed = lines[i]!.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const where = `${file}:${line}`;
    const m = ASSIGNMENT.exec(trimmed);
    if (!m) throw new ConfigError(`${where}: expected KEY=value, got ${shown(trimmed)}`);
    const key = m[1]!;
    const rest = m[2]!.trimStart();
    const quote = rest[0];
    if (quote === undefined || !QUOTES.includes(quote)) {
      const hash = rest.indexOf('#');
      entries.push({ key, value: (hash === -1 ? rest : rest.slice(0, hash)).trimEnd(), line });
      continue;
    }
    // A quoted value runs to the next same quote, on this line or a later one.
    let quoted = rest.slice(1);
    let close = quoted.indexOf(quote);
    while (close === -1 && i + 1 < lines.length) {
      quoted += `\n${lines[++i]}`;
      close = quoted.indexOf(quote);
    }
    if (close === -1) throw new ConfigError(`${where}: the value of ${key} opens a ${quote} quote that is never closed`);
    const after = quoted.slice(close + 1).trim();
    if (after !== '' && !after.startsWith('#')) {
      throw new ConfigError(`${where}: unexpected text after the closing ${quote} of ${key}: ${shown(SECRET.test(key) ? `${key} ${after}` : after)}`);
    }
    let value = quoted.slice(0, close);
    if (quote === '"') value = value.replaceAll('\\n', '\n').replaceAll('\\r', '\r');
    entries.push({ key, value, line });
  }
  return entries;
}

/** The offending text, quoted and cut short so the message stays one readable line. */
const shown = (text: string): string =>
  // A line that may hold a password (PROXY_PASSWORD, a REDIS_URL) is never echoed: error lines end up in logs.
  SECRET.test(text) ? '(not shown: it may hold a password)' : JSON.stringify(text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}…` : text);

/** Anchored at nothing but a fixed word or `://`: linear on any input. */
const SECRET = /password|:\/\//i;
