// Owns reading one parameter from a URL query string as raw bytes, so binary keys survive HTTP.

const HEX: Record<string, number> = Object.fromEntries([...'0123456789abcdefABCDEF'].map((c) => [c, Number.parseInt(c, 16)]));

/**
 * The bytes of the first `name=` parameter in `query` (the part after '?'), or undefined when absent.
 * `%HH` decodes to the byte 0xHH (URLSearchParams would turn invalid UTF-8 into U+FFFD),
 * `+` to a space, and any other character to its UTF-8 bytes.
 */
export function queryParamBytes(query: string, name: string): Buffer | undefined {
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const partName = eq === -1 ? part : part.slice(0, eq);
    if (partName === name) return percentDecode(eq === -1 ? '' : part.slice(eq + 1));
  }
  return undefined;
}

function percentDecode(text: string): Buffer {
  if (!/[%+]/.test(text)) return Buffer.from(text, 'utf8');
  const bytes: number[] = [];
  let plain = '';
  const flushPlain = () => {
    if (plain) for (const b of Buffer.from(plain, 'utf8')) bytes.push(b);
    plain = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const hi = HEX[text[i + 1] ?? ''];
    const lo = HEX[text[i + 2] ?? ''];
    if (c === '%' && hi !== undefined && lo !== undefined) {
      flushPlain();
      bytes.push(hi * 16 + lo);
      i += 2;
    } else if (c === '+') {
      flushPlain();
      bytes.push(0x20);
    } else {
      plain += c;
    }
  }
  flushPlain();
  return Buffer.from(bytes);
}
