// Node's Buffer methods for one-byte (latin1) strings: on Buffer.prototype since Node 0.x, used by
// Buffer#toString and Buffer#write after they normalise their arguments; @types/node leaves them out.
export {};

declare global {
  interface Buffer {
    /** The bytes in [start, end) as a string of one char per byte. */
    latin1Slice(start: number, end: number): string;
    /** Writes `text` (chars 0–255) as one byte per char at `offset`; returns the bytes written. */
    latin1Write(text: string, offset: number, length: number): number;
  }
}
