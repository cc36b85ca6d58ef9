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

/**
 * What a command handler returns:
 * Buffer or string → bulk string; number → integer; null → null; SimpleString → `+…`;
 * Error → `-…`; array → array; Map → RESP3 map (RESP2: flat array of key, value, …).
 */
export type Reply =
  | Buffer
  | string
  | number
  | null
  | SimpleString
  | VerbatimString
  | Error
  | readonly Reply[]
  | ReadonlyMap<string, Reply>;

export type ProtocolVersion = 2 | 3;

export const OK = new SimpleString('OK');
export const PONG = new SimpleString('PONG');
