// Owns reading Redis's replies off a backend socket: whole RESP2/RESP3 frames, as the exact bytes Redis sent.
import { ProtocolError } from '../errors.ts';

const CR = 13;
const EMPTY = Buffer.alloc(0);
/** Smallest buffer allocated when a frame spans reads; grown by doubling, so a large frame costs O(size) copying. */
const MIN_CAPACITY = 16 * 1024;

/**
 * Push bytes in, pull frames out: each frame is one reply (or push) exactly as Redis sent it, a view
 * of the received bytes that stays valid (bytes handed out are never overwritten). Never touches a
 * socket.
 *
 * Why not redis-parser: it reads RESP2 only (no maps, sets, pushes, doubles, nulls of RESP3), and it
 * turns every reply into JavaScript values. The proxy relays replies byte for byte in the client's
 * protocol, so it needs the frame's extent, not its contents; the few replies it reads itself go
 * through parseReply().
 *
 * A frame arriving in many reads is scanned incrementally: the scan resumes where it stopped, and a
 * large bulk string is not looked at again until all of it has arrived.
 */
export class ReplyReader {
  #buf: Buffer = EMPTY;
  /** Start of the first byte not yet handed out (the frame in progress). */
  #start = 0;
  /** End of the bytes received. */
  #end = 0;
  /** Where scanning resumes: the start of the next element of the frame in progress. */
  #scan = 0;
  /** Elements still to scan in the frame in progress; 0 when no frame is in progress. */
  #remaining = 0;
  /** The scan cannot progress until #end reaches this (a bulk string's end). */
  #need = 0;

  push(chunk: Buffer): void {
    if (this.#start === this.#end) {
      // Nothing pending: read straight from the chunk, without copying it.
      this.#buf = chunk;
      this.#scan -= this.#start;
      this.#need = Math.max(0, this.#need - this.#start);
      this.#start = 0;
      this.#end = chunk.length;
      return;
    }
    if (this.#end + chunk.length > this.#buf.length) this.#grow(chunk.length);
    chunk.copy(this.#buf, this.#end);
    this.#end += chunk.length;
  }

  /** Bytes received and not yet handed out as a frame. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** The next complete frame, or null when more bytes are needed. Throws ProtocolError on bytes that are not RESP. */
  next(): Buffer | null {
    if (this.#start === this.#end) return null;
    if (this.#end < this.#need) return null;
    if (this.#remaining === 0) {
      this.#remaining = 1;
      this.#scan = this.#start;
    }
    while (this.#remaining > 0) {
      if (!this.#element()) return null;
    }
    const frame = this.#buf.subarray(this.#start, this.#scan);
    this.#start = this.#scan;
    this.#need = 0;
    return frame;
  }

  /** Drops everything pending (the connection it came from is gone). */
  reset(): void {
    this.#buf = EMPTY;
    this.#start = this.#end = this.#scan = this.#remaining = this.#need = 0;
  }

  /** Scans one element at #scan; false when it has not fully arrived. */
  #element(): boolean {
    const buf = this.#buf;
    const at = this.#scan;
    if (at >= this.#end) return false;
    const cr = buf.indexOf(CR, at + 1);
    if (cr === -1 || cr + 1 >= this.#end) return false;
    const type = buf[at]!;
    const lineEnd = cr + 2;
    switch (type) {
      case 0x2b: // + simple string
      case 0x2d: // - error
      case 0x3a: // : integer
      case 0x2c: // , double
      case 0x5f: // _ null
      case 0x23: // # boolean
      case 0x28: // ( big number
        this.#scan = lineEnd;
        this.#remaining--;
        return true;
      case 0x24: // $ bulk string
      case 0x21: // ! bulk error
      case 0x3d: {
        // = verbatim string
        const length = headerNumber(buf, at, cr);
        if (length < 0) {
          this.#scan = lineEnd;
          this.#remaining--;
          return true;
        }
        const end = lineEnd + length + 2;
        if (end > this.#end) {
          this.#need = end;
          return false;
        }
        this.#scan = end;
        this.#remaining--;
        return true;
      }
      case 0x2a: // * array
      case 0x7e: // ~ set
      case 0x3e: // > push
      case 0x25: {
        // % map
        const count = headerNumber(buf, at, cr);
        this.#scan = lineEnd;
        this.#remaining += count < 0 ? -1 : (type === 0x25 ? 2 * count : count) - 1;
        return true;
      }
      case 0x7c: {
        // | attribute: a map, then the reply it describes
        const count = headerNumber(buf, at, cr);
        this.#scan = lineEnd;
        this.#remaining += 2 * count;
        return true;
      }
      default:
        throw new ProtocolError(`Protocol error: unexpected reply type '${String.fromCharCode(type)}' from Redis`);
    }
  }

  /** Makes room for `more` bytes after #end, keeping the bytes from #start; old bytes stay as they are. */
  #grow(more: number): void {
    const pending = this.#end - this.#start;
    const capacity = Math.max(MIN_CAPACITY, 2 * (pending + more));
    const next = Buffer.allocUnsafe(capacity);
    this.#buf.copy(next, 0, this.#start, this.#end);
    this.#scan -= this.#start;
    this.#need = Math.max(0, this.#need - this.#start);
    this.#buf = next;
    this.#start = 0;
    this.#end = pending;
  }
}

/** The integer in a header line (`$12\r\n`: 12), from after the type byte to the CR. */
function headerNumber(buf: Buffer, at: number, cr: number): number {
  let i = at + 1;
  let negative = false;
  if (buf[i] === 0x2d) {
    negative = true;
    i++;
  }
  if (i === cr) throw new ProtocolError('Protocol error: empty length in a reply from Redis');
  let n = 0;
  for (; i < cr; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) throw new ProtocolError(`Protocol error: bad length '${buf.latin1Slice(at + 1, cr)}' in a reply from Redis`);
    n = n * 10 + d;
  }
  return negative ? -n : n;
}

/** A reply's contents as JavaScript values, for the few replies the proxy reads itself. */
export type ParsedReply = Buffer | number | bigint | boolean | null | ReplyErrorValue | ParsedReply[] | PushValue;

/** An error reply (`-ERR …` or `!…`). */
export class ReplyErrorValue {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

/** A RESP3 push (`>`): out-of-band data such as an invalidation or a Pub/Sub message. */
export class PushValue {
  readonly items: ParsedReply[];
  constructor(items: ParsedReply[]) {
    this.items = items;
  }
}

/**
 * Parses one whole frame (as next() returns it). Strings are Buffers (views of the frame); maps and
 * sets are flat arrays (key, value, …); attributes are skipped; doubles are numbers.
 */
export function parseReply(frame: Buffer): ParsedReply {
  let pos = 0;
  const line = () => {
    const cr = frame.indexOf(CR, pos);
    const text = frame.latin1Slice(pos + 1, cr);
    pos = cr + 2;
    return text;
  };
  const one = (): ParsedReply => {
    const type = frame[pos]!;
    switch (type) {
      case 0x2b: // +
        return Buffer.from(line(), 'latin1');
      case 0x2d: // -
        return new ReplyErrorValue(line());
      case 0x3a: // :
        return Number(line());
      case 0x2c: // ,
        return Number(line().replace('inf', 'Infinity'));
      case 0x5f: // _
        line();
        return null;
      case 0x23: // #
        return line() === 't';
      case 0x28: // (
        return BigInt(line());
      case 0x24: // $
      case 0x21: // !
      case 0x3d: {
        // =
        const length = Number(line());
        if (length < 0) return null;
        let data = frame.subarray(pos, pos + length);
        pos += length + 2;
        if (type === 0x3d) data = data.subarray(4); // "txt:"
        return type === 0x21 ? new ReplyErrorValue(data.toString('utf8')) : data;
      }
      case 0x2a: // *
      case 0x7e: // ~
      case 0x3e: // >
      case 0x25: {
        // %
        const count = Number(line());
        if (count < 0) return null;
        const items: ParsedReply[] = [];
        for (let i = 0; i < (type === 0x25 ? 2 * count : count); i++) items.push(one());
        return type === 0x3e ? new PushValue(items) : items;
      }
      case 0x7c: {
        // | attribute: skipped
        const count = Number(line());
        for (let i = 0; i < 2 * count; i++) one();
        return one();
      }
      default:
        throw new ProtocolError(`Protocol error: unexpected reply type '${String.fromCharCode(type)}' from Redis`);
    }
  };
  return one();
}
