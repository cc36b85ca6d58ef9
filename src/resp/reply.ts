// Owns the reply values handlers return; only the encoder turns them into RESP bytes.

/** A RESP simple string (`+OK`), as opposed to a bulk string. */
export class SimpleString {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** Text that RESP3 sends as a verbatim string (`=txt:`), RESP2 as a bulk string; INFO and CLIENT INFO use it. */
export class VerbatimString {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** A reply exactly as Redis sent it (already in the client's protocol): relayed byte for byte. */
export class RawReply {
  readonly bytes: Buffer;
  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }
}

/** A reply already in RESP, as a string of one char per byte (a cached read's frame): written as it is. */
export class RawTextReply {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** Out-of-band data (Pub/Sub confirmations): a RESP3 push (`>`), or in RESP2 an array. */
export class PushReply {
  readonly items: readonly Reply[];
  constructor(items: readonly Reply[]) {
    this.items = items;
  }
}

/** Several replies to one command, written one after another (UNSUBSCRIBE answers once per channel). */
export class ReplySequence {
  readonly items: readonly Reply[];
  constructor(items: readonly Reply[]) {
    this.items = items;
  }
}

/**
 * What a command handler returns:
 * Buffer or string → bulk string; number → integer; null → null; SimpleString → `+…`;
 * Error → `-…`; array → array; Map → RESP3 map (RESP2: flat array of key, value, …);
 * RawReply → its bytes as they are; PushReply → RESP3 push (RESP2: array).
 */
export type Reply =
  | Buffer
  | string
  | number
  | null
  | SimpleString
  | VerbatimString
  | RawReply
  | RawTextReply
  | PushReply
  | ReplySequence
  | Error
  | readonly Reply[]
  | ReadonlyMap<string, Reply>;

export type ProtocolVersion = 2 | 3;

export const OK = new SimpleString('OK');
export const PONG = new SimpleString('PONG');
