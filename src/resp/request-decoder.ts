// Owns turning a client's byte stream into requests: RESP multibulk frames and inline commands, with Redis's limits.
import { ProtocolError } from '../errors.ts';
import { splitInlineArgs } from './inline.ts';

/** Redis's PROTO_INLINE_MAX_SIZE: longest inline request, or header line, before it is refused. */
const MAX_LINE = 64 * 1024;
/** Most arguments in one request (Redis 6's limit); each one costs a Buffer view, so this bounds memory. */
const MAX_MULTIBULK = 1024 * 1024;
/** Redis's default proto-max-bulk-len. */
export const MAX_BULK = 512 * 1024 * 1024;
/** Redis's limits for a client that has not authenticated (networking.c): enough for AUTH and HELLO, too little to hog memory. */
export const UNAUTHENTICATED_MULTIBULK = 10;
export const UNAUTHENTICATED_BULK = 16 * 1024;

const CR = 13;
const LF = 10;
const STAR = 0x2a;
const DOLLAR = 0x24;
const EMPTY = Buffer.alloc(0);

/**
 * Push bytes in, pull requests out. Never touches a socket. A request is its arguments as Buffers
 * (views into the received bytes). Mirrors Redis's processMultibulkBuffer/processInlineBuffer:
 * the same limits, and the same "Protocol error: …" wording.
 *
 * Why not redis-parser: it parses replies, not requests. It has no inline commands, throws a
 * RangeError on `*99999999999`, waits forever to buffer `$99999999999`, accepts non-bulk items,
 * and keeps parsing past a frame, so it cannot hand an inline command that follows back to us.
 * The tests check this decoder against redis-parser on every well-formed frame.
 */
export class RequestDecoder {
  readonly #maxRequestBytes: number;
  readonly #recogniseGet: boolean;
  // GET's whole-frame path is skipped while the client is not authenticated: the general path checks the limits.
  #fastGet: boolean;
  #maxArgs = MAX_MULTIBULK;
  #maxBulk = MAX_BULK;
  // Unconsumed input: #buf from #pos on, then #more (chunks not yet joined, to avoid
  // re-copying while a large bulk string arrives piece by piece).
  #buf: Buffer = EMPTY;
  #pos = 0;
  // #buf is the caller's reused read buffer, good only until release(). Only the whole-GET path reads
  // it in place (its key is copied into a string); anything that keeps views copies the rest first.
  #borrowed = false;
  #more: Buffer[] = [];
  #moreBytes = 0;
  // The multibulk frame in progress: arguments still to read (0: none), those read so far,
  // the length of the bulk string whose header was read (-1: none), bytes consumed by the frame.
  #argsLeft = 0;
  #args: Buffer[] = [];
  #bulkLength = -1;
  #frameBytes = 0;

  /**
   * @param maxRequestBytes QUERY_BUFFER_LIMIT: a request bigger than this is a protocol error.
   * @param recogniseGet Recognise whole `GET key` frames without building their argument list (off only in tests, to compare).
   */
  constructor(maxRequestBytes: number, { recogniseGet = true } = {}) {
    this.#maxRequestBytes = maxRequestBytes;
    this.#recogniseGet = recogniseGet;
    this.#fastGet = recogniseGet;
  }

  /** Until set, Redis's limits for unauthenticated clients apply: 10 arguments, 16 KiB each. Set by default. */
  set authenticated(value: boolean) {
    this.#fastGet = value && this.#recogniseGet;
    this.#maxArgs = value ? MAX_MULTIBULK : UNAUTHENTICATED_MULTIBULK;
    this.#maxBulk = value ? MAX_BULK : UNAUTHENTICATED_BULK;
  }

  /**
   * @param borrowed The bytes will be overwritten by the caller's next read: call release() before that.
   */
  push(chunk: Buffer, borrowed = false): void {
    if (this.#borrowed) throw new Error('RequestDecoder: release() the borrowed bytes before pushing more');
    if (this.#pos >= this.#buf.length && this.#moreBytes === 0) {
      this.#buf = chunk;
      this.#pos = 0;
      this.#borrowed = borrowed;
    } else {
      // Part of a frame is already waiting: the general path will keep views of this chunk.
      const own = borrowed ? Buffer.from(chunk) : chunk;
      this.#more.push(own);
      this.#moreBytes += own.length;
    }
  }

  /** Stops using borrowed bytes: copies what is not consumed yet (usually nothing). */
  release(): void {
    if (!this.#borrowed) return;
    this.#borrowed = false;
    this.#buf = this.#pos < this.#buf.length ? Buffer.from(this.#buf.subarray(this.#pos)) : EMPTY;
    this.#pos = 0;
  }

  /** Bytes received and not yet turned into a request. */
  get buffered(): number {
    return this.#buf.length - this.#pos + this.#moreBytes;
  }

  /**
   * The next complete request, or null when more bytes are needed. A string is the key (latin1)
   * of a `GET key` frame, which is nearly all traffic: it is recognised whole, without the Buffer
   * views and array of the general path; anything else (or a GET split across reads) takes that path.
   * Throws ProtocolError for bytes that are not a request; the stream cannot be resynchronised after that.
   */
  next(): Buffer[] | string | null {
    for (;;) {
      if (this.#argsLeft === 0) {
        if (this.#pos >= this.#buf.length && !this.#join()) return null;
        if (this.#fastGet && this.#buf[this.#pos] === STAR) {
          const key = this.#wholeGet();
          if (key !== null) return key;
        }
      }
      // From here on requests are views of the bytes, and may outlive this call: they must be ours.
      this.release();
      if (this.#argsLeft === 0) {
        if (this.#buf[this.#pos] === STAR) {
          if (!this.#multibulkHeader()) return this.#needMore();
          continue;
        }
        const request = this.#inline();
        if (request === null) return this.#needMore();
        if (request.length === 0) continue;
        return request;
      }
      const done = this.#bulk();
      if (done === null) return this.#needMore();
      if (done) {
        const args = this.#args;
        this.#args = [];
        this.#frameBytes = 0;
        return args;
      }
    }
  }

  #needMore(): null {
    if (this.#frameBytes + this.buffered > this.#maxRequestBytes) this.#tooBig();
    return null;
  }

  #tooBig(): never {
    throw new ProtocolError(`Protocol error: request bigger than QUERY_BUFFER_LIMIT (${this.#maxRequestBytes} bytes)`);
  }

  /** Moves pending chunks into #buf; false when there is nothing to move. */
  #join(): boolean {
    if (this.#moreBytes === 0) return false;
    const rest = this.#buf.subarray(this.#pos);
    this.#buf = rest.length === 0 && this.#more.length === 1 ? this.#more[0]! : Buffer.concat([rest, ...this.#more]);
    this.#pos = 0;
    this.#more = [];
    this.#moreBytes = 0;
    return true;
  }

  /** Ensures `bytes` unconsumed bytes sit contiguously in #buf; false when fewer have arrived. */
  #have(bytes: number): boolean {
    if (this.#buf.length - this.#pos >= bytes) return true;
    if (this.buffered < bytes) return false;
    return this.#join();
  }

  /**
   * Index of the `terminator` that ends the line at the read position, once it and the `after` bytes
   * following it have arrived; -1 until then. Only this line counts against MAX_LINE, never the requests
   * pipelined behind it in chunks not yet joined (a 64 KiB read landing while `*2` is half received is
   * no reason to refuse anything). Pending chunks are joined when the line does not end in #buf: either
   * its end is in them (then each is copied once), or all of them are part of the line (at most MAX_LINE).
   */
  #lineEnd(terminator: number, after: number, tooLong: string): number {
    for (;;) {
      const end = this.#buf.indexOf(terminator, this.#pos);
      // Refused whether or not its end has arrived, so that the verdict does not depend on how it was split.
      if ((end === -1 ? this.#buf.length : end) - this.#pos > MAX_LINE) throw new ProtocolError(`Protocol error: ${tooLong}`);
      if (end !== -1 && end + after < this.#buf.length) return end;
      if (!this.#join()) return -1;
    }
  }

  /** The key of a complete `*2\r\n$3\r\nGET\r\n$<n>\r\n<key>\r\n` at the read position, consumed; else null, nothing consumed. */
  #wholeGet(): string | null {
    const b = this.#buf;
    const p = this.#pos;
    const end = b.length;
    if (end - p < 19) return null;
    if (
      b[p + 1] !== 0x32 ||
      b[p + 2] !== CR ||
      b[p + 3] !== LF ||
      b[p + 4] !== DOLLAR ||
      b[p + 5] !== 0x33 ||
      b[p + 6] !== CR ||
      b[p + 7] !== LF ||
      (b[p + 8]! | 0x20) !== 0x67 ||
      (b[p + 9]! | 0x20) !== 0x65 ||
      (b[p + 10]! | 0x20) !== 0x74 ||
      b[p + 11] !== CR ||
      b[p + 12] !== LF ||
      b[p + 13] !== DOLLAR
    ) {
      return null;
    }
    let i = p + 14;
    let length = 0;
    // At most 9 digits, no leading zero: anything else is left to the general path and its errors.
    for (; i < end && i < p + 23; i++) {
      const d = b[i]! - 0x30;
      if (d < 0 || d > 9) break;
      length = length * 10 + d;
    }
    if (i === p + 14 || (b[p + 14] === 0x30 && i > p + 15) || b[i] !== CR) return null;
    const start = i + 2;
    // Like the general path, the two bytes after the key are skipped, not checked.
    if (start + length + 2 > end || start + length + 2 - p > this.#maxRequestBytes) return null;
    this.#pos = start + length + 2;
    return b.latin1Slice(start, start + length);
  }

  /** `*<count>\r\n`: starts a frame (or skips an empty one); false when the line is incomplete. */
  #multibulkHeader(): boolean {
    const cr = this.#lineEnd(CR, 1, 'too big mbulk count string');
    if (cr === -1) return false;
    const count = parseInteger(this.#buf, this.#pos + 1, cr);
    if (count === null || count > MAX_MULTIBULK) throw new ProtocolError('Protocol error: invalid multibulk length');
    if (count > this.#maxArgs) throw new ProtocolError('Protocol error: unauthenticated multibulk length');
    if (count > 0) {
      this.#argsLeft = count;
      this.#frameBytes = cr + 2 - this.#pos;
    }
    this.#pos = cr + 2;
    return true;
  }

  /** One `$<len>\r\n<bytes>\r\n` of the frame; true when it was the last. */
  #bulk(): boolean | null {
    if (this.#bulkLength === -1) {
      if (this.#pos >= this.#buf.length && !this.#join()) return null;
      const type = this.#buf[this.#pos]!;
      if (type !== DOLLAR) {
        throw new ProtocolError(`Protocol error: expected '$', got '${String.fromCharCode(type)}'`);
      }
      const cr = this.#lineEnd(CR, 1, 'too big bulk count string');
      if (cr === -1) return null;
      const length = parseInteger(this.#buf, this.#pos + 1, cr);
      if (length === null || length < 0 || length > MAX_BULK) throw new ProtocolError('Protocol error: invalid bulk length');
      if (length > this.#maxBulk) throw new ProtocolError('Protocol error: unauthenticated bulk length');
      this.#frameBytes += cr + 2 - this.#pos;
      if (this.#frameBytes + length > this.#maxRequestBytes) this.#tooBig();
      this.#pos = cr + 2;
      this.#bulkLength = length;
    }
    if (!this.#have(this.#bulkLength + 2)) return null;
    this.#args.push(this.#buf.subarray(this.#pos, this.#pos + this.#bulkLength));
    // Like Redis, the two bytes after the data are skipped, not checked.
    this.#pos += this.#bulkLength + 2;
    this.#frameBytes += this.#bulkLength + 2;
    this.#bulkLength = -1;
    return --this.#argsLeft === 0;
  }

  /** A line of space-separated words, as typed into telnet. */
  #inline(): Buffer[] | null {
    const lf = this.#lineEnd(LF, 0, 'too big inline request');
    if (lf === -1) return null;
    const end = lf > this.#pos && this.#buf[lf - 1] === CR ? lf - 1 : lf;
    const line = this.#buf.subarray(this.#pos, end);
    this.#pos = lf + 1;
    const args = splitInlineArgs(line);
    if (args === null) throw new ProtocolError('Protocol error: unbalanced quotes in request');
    return args;
  }
}

/** The decimal integer in buf[start, end), or null if it is not one (Redis's string2ll rules: no '+', no leading 0). */
function parseInteger(buf: Buffer, start: number, end: number): number | null {
  if (start >= end || end - start > 20) return null;
  let i = start;
  let negative = false;
  if (buf[i] === 0x2d /* - */) {
    negative = true;
    i++;
  }
  if (i === end || (buf[i] === 0x30 /* 0 */ && end - i > 1) || (negative && buf[i] === 0x30)) return null;
  let n = 0;
  for (; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  return negative ? -n : n;
}
