// Owns answering a RESP2 client from a reply Redis sent in RESP3 (a cached read): the same data in RESP2's types.

/**
 * The RESP2 form of a RESP3 reply, both as latin1 strings (one char per byte), as Redis itself would
 * have written it for a RESP2 client: a map becomes an array of its keys and values, a set an array,
 * a null a null bulk string, a double or big number a bulk string of its text, a boolean 1 or 0, a
 * verbatim string a bulk string of its text; attributes are dropped.
 *
 * Only for replies whose RESP2 shape is the same walk (the cached read commands): Redis writes a few
 * replies in a different shape per protocol (ZRANGE … WITHSCORES nests pairs in RESP3), and a null
 * array (`*-1`) and a null bulk string both come as `_` in RESP3; such commands are not cached.
 */
export function resp3ToResp2(frame: string): string {
  let out = '';
  let pos = 0;
  const line = (): string => {
    const cr = frame.indexOf('\r', pos);
    const text = frame.slice(pos + 1, cr);
    pos = cr + 2;
    return text;
  };
  const bulk = (text: string) => `$${text.length}\r\n${text}\r\n`;
  const one = (): void => {
    const type = frame[pos];
    switch (type) {
      case '+':
      case '-':
      case ':': {
        const start = pos;
        line();
        out += frame.slice(start, pos);
        return;
      }
      case '_':
        line();
        out += '$-1\r\n';
        return;
      case ',':
      case '(':
        out += bulk(line());
        return;
      case '#':
        out += line() === 't' ? ':1\r\n' : ':0\r\n';
        return;
      case '$':
      case '=':
      case '!': {
        const length = Number(line());
        if (length < 0) {
          out += '$-1\r\n';
          return;
        }
        const data = frame.slice(pos, pos + length);
        pos += length + 2;
        if (type === '$') out += bulk(data);
        else if (type === '=')
          out += bulk(data.slice(4)); // "txt:"
        else out += `-${data}\r\n`;
        return;
      }
      case '*':
      case '~':
      case '>':
      case '%': {
        const count = Number(line());
        if (count < 0) {
          out += '*-1\r\n';
          return;
        }
        const items = type === '%' ? 2 * count : count;
        out += `*${items}\r\n`;
        for (let i = 0; i < items; i++) one();
        return;
      }
      case '|': {
        const count = Number(line());
        const saved = out;
        for (let i = 0; i < 2 * count; i++) one();
        out = saved;
        one();
        return;
      }
      default:
        throw new Error(`not a RESP3 reply: type ${JSON.stringify(type)}`);
    }
  };
  one();
  return out;
}
