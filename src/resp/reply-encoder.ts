// Owns turning replies into RESP2/RESP3 bytes, counted in bytes, packed so a batch leaves in one write.
import { BackendReplyError, CommandError, ProxyError } from '../errors.ts';
import { PushReply, RawReply, RawTextReply, ReplySequence, SimpleString, VerbatimString, type ProtocolVersion, type Reply } from './reply.ts';

// Replies are packed into a shared slab and handed to the socket as views of it. A connection encodes
// and takes its batch in one synchronous step, so batches of different connections never interleave;
// the slab only moves forward, so bytes already handed out are never overwritten.
const SLAB_BYTES = 64 * 1024;
// Values this big are handed to the socket as they are rather than copied into the slab.
const COPY_LIMIT = 16 * 1024;

const CR = 13;
const LF = 10;

let slab = Buffer.allocUnsafe(SLAB_BYTES);
let used = 0;
let batchStart = 0;
let parts: Buffer[] = [];

function sealRegion(): void {
  if (used > batchStart) parts.push(slab.subarray(batchStart, used));
  batchStart = used;
}

function reserve(bytes: number): void {
  if (used + bytes <= slab.length) return;
  sealRegion();
  slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, bytes));
  used = 0;
  batchStart = 0;
}

/** Type byte, decimal number, CRLF: the header of most RESP types. */
function writeHeader(type: number, n: number): void {
  reserve(24);
  slab[used++] = type;
  if (n >= 0 && n < 1e15) {
    // Digits written in place: this runs for every reply, and a string conversion plus a copy cost more.
    let digits = 1;
    for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    for (let i = used + digits - 1, rest = n; i >= used; i--, rest = Math.floor(rest / 10)) slab[i] = 0x30 + (rest % 10);
    used += digits;
  } else {
    used += slab.write(String(n), used, 'latin1');
  }
  slab[used++] = CR;
  slab[used++] = LF;
}

/** A line of ASCII text (status, error): `type text CRLF`. */
function writeLine(type: number, text: string): void {
  const bytes = Buffer.byteLength(text);
  reserve(bytes + 3);
  slab[used++] = type;
  used += slab.write(text, used);
  slab[used++] = CR;
  slab[used++] = LF;
}

function writeBulk(value: Buffer): void {
  writeHeader(0x24 /* $ */, value.length);
  if (value.length >= COPY_LIMIT) {
    sealRegion();
    parts.push(value);
  } else {
    reserve(value.length);
    used += value.copy(slab, used);
  }
  reserve(2);
  slab[used++] = CR;
  slab[used++] = LF;
}

/** Bytes already in RESP (a reply relayed from Redis). */
function writeRaw(bytes: Buffer): void {
  if (bytes.length >= COPY_LIMIT) {
    sealRegion();
    parts.push(bytes);
  } else {
    reserve(bytes.length);
    used += bytes.copy(slab, used);
  }
}

/** A bulk string from a string of one char per byte (latin1): a cached value, or ASCII text. */
function writeBulkBinary(value: string): void {
  const length = value.length;
  writeHeader(0x24 /* $ */, length);
  reserve(length + 2);
  used += slab.latin1Write(value, used, length);
  slab[used++] = CR;
  slab[used++] = LF;
}

/** Human-readable text (INFO, CLIENT LIST), UTF-8 encoded, as a bulk or verbatim string. */
function writeText(text: string, verbatim: boolean): void {
  const format = verbatim ? 'txt:' : '';
  const bytes = Buffer.byteLength(text) + format.length;
  writeHeader(verbatim ? 0x3d /* = */ : 0x24 /* $ */, bytes);
  reserve(bytes + 2);
  if (verbatim) used += slab.write(format, used, 'latin1');
  used += slab.write(text, used, bytes - format.length);
  slab[used++] = CR;
  slab[used++] = LF;
}

/**
 * The one place an error becomes an error reply line. Command errors already start with Redis's
 * prefix (ERR, NOPROTO, …) and backend error replies (WRONGTYPE, …) are relayed as Redis sent them;
 * everything else is an ERR. CR and LF would end the line early, so they become spaces, as in Redis.
 */
function errorLine(err: Error): string {
  let text: string;
  if (err instanceof CommandError || err instanceof BackendReplyError) text = err.message;
  else if (err instanceof ProxyError) text = `ERR ${err.message}`;
  else text = `ERR internal error: ${err.message}`;
  return text.replace(/[\r\n]+/g, ' ');
}

/** Appends `reply` to the current batch. */
export function writeReply(reply: Reply, protocol: ProtocolVersion): void {
  // Cached values (latin1 strings) first: they are nearly every reply.
  if (typeof reply === 'string') writeBulkBinary(reply);
  else if (reply === null) {
    reserve(5);
    if (protocol === 3) used += slab.write('_\r\n', used, 'latin1');
    else used += slab.write('$-1\r\n', used, 'latin1');
  } else if (reply instanceof Buffer) writeBulk(reply);
  else if (typeof reply === 'number') writeHeader(0x3a /* : */, reply);
  else if (reply instanceof SimpleString) writeLine(0x2b /* + */, reply.text);
  else if (reply instanceof Error) writeLine(0x2d /* - */, errorLine(reply));
  else if (reply instanceof RawReply) writeRaw(reply.bytes);
  else if (reply instanceof RawTextReply) {
    reserve(reply.text.length);
    used += slab.latin1Write(reply.text, used, reply.text.length);
  } else if (reply instanceof VerbatimString) writeText(reply.text, protocol === 3);
  else if (reply instanceof ReplySequence) {
    for (const item of reply.items) writeReply(item, protocol);
  } else if (reply instanceof PushReply) {
    writeHeader(protocol === 3 ? 0x3e /* > */ : 0x2a /* * */, reply.items.length);
    for (const item of reply.items) writeReply(item, protocol);
  } else if (reply instanceof Map) {
    writeHeader(protocol === 3 ? 0x25 /* % */ : 0x2a /* * */, protocol === 3 ? reply.size : reply.size * 2);
    for (const [key, value] of reply as ReadonlyMap<string, Reply>) {
      writeBulkBinary(key);
      writeReply(value, protocol);
    }
  } else {
    const items = reply as readonly Reply[];
    writeHeader(0x2a /* * */, items.length);
    for (const item of items) writeReply(item, protocol);
  }
}

/** Bytes written since the last takeBatch(): lets a connection bound its output before it is flushed. */
export function batchBytes(): number {
  let bytes = used - batchStart;
  for (const part of parts) bytes += part.length;
  return bytes;
}

/**
 * Everything written since the last call: one Buffer (the usual case, without an array around it),
 * buffers to write in order, or null when nothing was written.
 */
export function takeBatch(): Buffer | Buffer[] | null {
  if (parts.length === 0) {
    if (used === batchStart) return null;
    const region = slab.subarray(batchStart, used);
    batchStart = used;
    return region;
  }
  sealRegion();
  const batch = parts;
  parts = [];
  return batch;
}

/** Encodes one reply on its own, as plain bytes (used by the tests). */
export function encodeReply(reply: Reply, protocol: ProtocolVersion): Buffer {
  writeReply(reply, protocol);
  const batch = takeBatch();
  if (batch === null) return Buffer.alloc(0);
  return Array.isArray(batch) ? Buffer.concat(batch) : batch;
}
