// Owns splitting an inline command line into arguments, with Redis's quoting rules (sdssplitargs).

const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0;
const hexValue = (c: number) => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1);
const ESCAPES: Record<number, number> = { 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x62: 0x08, 0x61: 0x07 }; // n r t b a

const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;

/**
 * `GET "a b" 'c\'d' e\x41` → [GET, a b, c'd, e\x41]. In double quotes \n \r \t \b \a \xHH and \<c>
 * are escapes; in single quotes only \'. A closing quote must be followed by a space or the end.
 * Returns null for unbalanced quotes.
 */
export function splitInlineArgs(line: Buffer): Buffer[] | null {
  const args: Buffer[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    while (i < n && isSpace(line[i]!)) i++;
    if (i >= n) return args;
    const first = line[i]!;
    if (first !== DQUOTE && first !== SQUOTE) {
      // Unquoted words are the common case: take them as a view, without copying.
      const start = i;
      while (i < n && !isSpace(line[i]!) && line[i] !== DQUOTE && line[i] !== SQUOTE) i++;
      if (i >= n || isSpace(line[i]!)) {
        args.push(line.subarray(start, i));
        continue;
      }
      i = start;
    }
    const word: number[] = [];
    let quote = 0;
    for (;;) {
      if (quote !== 0) {
        if (i >= n) return null;
        const c = line[i]!;
        if (quote === DQUOTE && c === BACKSLASH && line[i + 1] === 0x78 /* x */ && i + 3 < n && hexValue(line[i + 2]!) >= 0 && hexValue(line[i + 3]!) >= 0) {
          word.push(hexValue(line[i + 2]!) * 16 + hexValue(line[i + 3]!));
          i += 4;
        } else if (quote === DQUOTE && c === BACKSLASH && i + 1 < n) {
          const e = line[i + 1]!;
          word.push(ESCAPES[e] ?? e);
          i += 2;
        } else if (quote === SQUOTE && c === BACKSLASH && line[i + 1] === SQUOTE) {
          word.push(SQUOTE);
          i += 2;
        } else if (c === quote) {
          i++;
          if (i < n && !isSpace(line[i]!)) return null;
          break;
        } else {
          word.push(c);
          i++;
        }
      } else {
        if (i >= n || isSpace(line[i]!)) break;
        const c = line[i]!;
        if (c === DQUOTE || c === SQUOTE) quote = c;
        else word.push(c);
        i++;
      }
    }
    args.push(Buffer.from(word));
  }
}
