// Owns Redis's glob patterns (stringmatchlen: * ? [abc] [^a-z] \x), matched over bytes in bounded time.

/**
 * Longest pattern, in bytes; a longer one matches nothing. Redis has no such cap (only MAX_STAR_RUNS),
 * but a match can cost pattern × text steps, and this bounds it; no real pattern comes near it.
 */
export const MAX_GLOB_PATTERN = 64 * 1024;
/**
 * Redis (since CVE-2024-31228) gives up once `*`s nest more than 1000 deep, so a pattern with more than
 * 1000 runs of `*` followed by something never matches there; nor does it here.
 */
const MAX_STAR_RUNS = 1000;

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;
const BACKSLASH = 0x5c;

/** A class (`[…]`) as Redis reads it, and what it answered for each byte so far (0: not asked, 1: no, 2: yes). */
interface CharClass {
  readonly negate: boolean;
  /** Member bytes, compared exactly: escaped ones as written, others in both cases when ignoring case. */
  readonly bytes: number[];
  /** Ranges as [from, to, from, to …] in the order classValue() gives bytes; from > to is empty. */
  readonly ranges: number[];
  answers: Uint8Array | null;
}

/** A class with more members than this answers all 256 bytes in one pass over it, not one pass per byte asked. */
const LONG_CLASS = 64;

/** One step of a pattern: a byte, `?` (null), a class, or a run of `*` ('*'). */
type Token = number | null | CharClass | '*';

export type GlobMatcher = (text: Uint8Array) => boolean;

const NEVER: GlobMatcher = () => false;
const lowerAscii = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
const isLetter = (c: number) => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;

/**
 * Where a byte falls in a class's ranges. Redis compares C chars, which are signed on x86-64 (0x80–0xff
 * sort below 0), and, ignoring case, passes them through glibc's tolower, which maps -128…-2 back to
 * 128…254 and leaves -1 (0xff, EOF) alone. Only ranges reaching past 0x7f can tell the difference.
 */
function classValue(c: number, nocase: boolean): number {
  const signed = c >= 0x80 ? c - 0x100 : c;
  if (!nocase) return signed;
  return signed < -1 ? signed + 0x100 : lowerAscii(signed);
}

/**
 * Reads the class whose `[` is at `open`, as Redis's stringmatchlen does, quirks included: `\` escapes,
 * `a-z` ranges in either order, `^` negates, and an unclosed class runs to the end of the pattern.
 * Returns the class and the index after it.
 */
function readClass(pattern: Uint8Array, open: number, nocase: boolean): [CharClass, number] {
  const end = pattern.length;
  let i = open + 1;
  const negate = i < end && pattern[i] === CARET;
  if (negate) i++;
  const cls: CharClass = { negate, bytes: [], ranges: [], answers: null };
  for (; i < end; i++) {
    const c = pattern[i]!;
    if (c === BACKSLASH && end - i >= 2) {
      // Redis compares an escaped member exactly, even when ignoring case.
      cls.bytes.push(pattern[++i]!);
    } else if (c === CLOSE) {
      return [cls, i + 1];
    } else if (end - i >= 3 && pattern[i + 1] === DASH) {
      // Redis orders the ends before lowering them, so ignoring case can empty a range ([Z-a] is z…a).
      let from = c;
      let to = pattern[i + 2]!;
      if (classValue(from, false) > classValue(to, false)) [from, to] = [to, from];
      cls.ranges.push(classValue(from, nocase), classValue(to, nocase));
      i += 2;
    } else {
      cls.bytes.push(c);
      if (nocase && isLetter(c)) cls.bytes.push(c ^ 0x20);
    }
  }
  return [cls, end];
}

function classHas(cls: CharClass, c: number, nocase: boolean): boolean {
  let answers = cls.answers;
  if (answers === null) {
    answers = cls.answers = new Uint8Array(256);
    if (cls.bytes.length + cls.ranges.length > LONG_CLASS) answerAll(cls, answers, nocase);
  }
  if (answers[c] === 0) {
    const value = classValue(c, nocase);
    let found = cls.bytes.includes(c);
    for (let r = 0; !found && r < cls.ranges.length; r += 2) found = cls.ranges[r]! <= value && value <= cls.ranges[r + 1]!;
    answers[c] = found !== cls.negate ? 2 : 1;
  }
  return answers[c] === 2;
}

/** Every byte's answer in one pass over the class: its ranges add up in a difference array over classValue()s. */
function answerAll(cls: CharClass, answers: Uint8Array, nocase: boolean): void {
  const OFFSET = 128; // classValue() is -128…254
  const cover = new Int32Array(OFFSET + 256);
  for (let r = 0; r < cls.ranges.length; r += 2) {
    const from = cls.ranges[r]!;
    const to = cls.ranges[r + 1]!;
    if (from > to) continue;
    cover[from + OFFSET]!++;
    cover[to + OFFSET + 1]!--;
  }
  for (let v = 1; v < cover.length; v++) cover[v]! += cover[v - 1]!;
  const member = new Uint8Array(256);
  for (const b of cls.bytes) member[b] = 1;
  for (let c = 0; c < 256; c++) {
    const found = member[c] === 1 || cover[classValue(c, nocase) + OFFSET]! > 0;
    answers[c] = found !== cls.negate ? 2 : 1;
  }
}

/** Splits a pattern into tokens; null when Redis would refuse to match it (see MAX_STAR_RUNS). */
function tokenize(pattern: Uint8Array, nocase: boolean): Token[] | null {
  const tokens: Token[] = [];
  let starRuns = 0;
  for (let i = 0; i < pattern.length;) {
    const c = pattern[i]!;
    if (c === STAR) {
      while (pattern[i] === STAR) i++;
      if (i < pattern.length && ++starRuns > MAX_STAR_RUNS) return null;
      tokens.push('*');
    } else if (c === QUESTION) {
      tokens.push(null);
      i++;
    } else if (c === OPEN) {
      const [cls, next] = readClass(pattern, i, nocase);
      tokens.push(cls);
      i = next;
    } else {
      // `\x` is x; a `\` that ends the pattern is itself.
      const b = c === BACKSLASH && i + 1 < pattern.length ? pattern[++i]! : c;
      tokens.push(nocase ? lowerAscii(b) : b);
      i++;
    }
  }
  return tokens;
}

/**
 * Compiles `pattern` once for matching many texts (CONFIG GET's names, keys). Same answers as Redis's
 * stringmatchlen(pattern, text, nocase), quirks included (an empty text matches only the empty
 * pattern, even `*` does not match it). Redis backtracks recursively; here a mismatch only goes back
 * to the latest `*`, which is enough for globs: a match costs at most pattern × text steps, never
 * exponential, and a class works out its answer for a byte once per compiled pattern, however long it is.
 */
export function compileGlob(pattern: Uint8Array, { nocase = false } = {}): GlobMatcher {
  if (pattern.length > MAX_GLOB_PATTERN) return NEVER;
  const tokens = tokenize(pattern, nocase);
  if (tokens === null) return NEVER;
  const count = tokens.length;
  return (text) => {
    if (text.length === 0) return count === 0;
    let k = 0;
    let t = 0;
    // After a mismatch: the token after the latest `*`, and the text position that `*` will swallow up to next.
    let resumeToken = -1;
    let resumeText = 0;
    while (t < text.length) {
      if (k < count) {
        const token = tokens[k]!;
        if (token === '*') {
          if (k === count - 1) return true;
          resumeToken = ++k;
          resumeText = t;
          continue;
        }
        const c = text[t]!;
        if (token === null || (typeof token === 'number' ? token === (nocase ? lowerAscii(c) : c) : classHas(token, c, nocase))) {
          k++;
          t++;
          continue;
        }
      }
      if (resumeToken === -1) return false;
      k = resumeToken;
      t = ++resumeText;
    }
    while (k < count && tokens[k] === '*') k++;
    return k === count;
  };
}

/** One match; compile once with compileGlob() to match a pattern against many texts. */
export function globMatch(pattern: Uint8Array, text: Uint8Array, options: { nocase?: boolean } = {}): boolean {
  return compileGlob(pattern, options)(text);
}
