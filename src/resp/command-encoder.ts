// Owns writing a request for Redis: arguments as a RESP multibulk frame, binary-safe, in a latin1 string.

/**
 * `[SET, k, v]` → `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n`, one char per byte. A string rather than
 * a Buffer: the frames of one event-loop turn are joined and written at once, and V8 joins strings
 * without copying until the write.
 */
export function encodeCommand(args: readonly (Buffer | string)[]): string {
  let text = `*${args.length}\r\n`;
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? arg : arg.latin1Slice(0, arg.length);
    text += `$${bytes.length}\r\n${bytes}\r\n`;
  }
  return text;
}
