// Owns Redis Cluster's routing facts: a key's hash slot, and which master serves each slot (read from CLUSTER SLOTS, patched by MOVED).
import calculateSlot from 'cluster-key-slot';
import { hostPort } from '../../address.ts';
import { type ParsedReply, ReplyErrorValue } from '../../resp/reply-reader.ts';

export const SLOT_COUNT = 16384;

/** Redis Cluster's own words for a multi-key command across slots. */
export const CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";

/** Whether a latin1 string (one char per byte) holds only ASCII, so hashing it as UTF-8 hashes its bytes. */
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** The hash slot of a key given as bytes, or as a latin1 string (the cache's form). */
export function keySlot(key: Buffer | string): number {
  return calculateSlot(typeof key === 'string' && !isAscii(key) ? Buffer.from(key, 'latin1') : key);
}

/** The slot every key shares; -1 when they do not share one; undefined for no key. */
export function slotOfKeys(keys: readonly (Buffer | string)[]): number | undefined {
  if (keys.length === 0) return undefined;
  const first = keySlot(keys[0]!);
  for (let i = 1; i < keys.length; i++) if (keySlot(keys[i]!) !== first) return -1;
  return first;
}

/** A redirection Redis answered instead of a reply: the slot lives elsewhere for good (MOVED), or for this one command (ASK). */
export interface Redirect {
  readonly kind: 'moved' | 'ask';
  readonly slot: number;
  readonly address: string;
}

/** `-MOVED 3999 127.0.0.1:7002` or `-ASK …` (as an error frame's text or message), else undefined. */
export function redirectOf(message: string): Redirect | undefined {
  const kind = message.startsWith('MOVED ') ? 'moved' : message.startsWith('ASK ') ? 'ask' : undefined;
  if (kind === undefined) return undefined;
  const [, slot, address] = message.split(' ');
  const n = Number(slot);
  if (!Number.isInteger(n) || n < 0 || n >= SLOT_COUNT || address === undefined || !address.includes(':')) return undefined;
  // Redis 7 may leave the host out (`:7002`) when it does not know its own address: the one asked is meant.
  return { kind, slot: n, address };
}

/** The error frame's text without its `-` and line end. */
export const errorText = (frame: Buffer): string => frame.latin1Slice(1, frame.length - 2);

/**
 * CLIENT SLOTS' reply as slot → master address. `asked` is the node that answered: its host stands in
 * for an empty or `?` one, as Redis sends when a node does not know its own address.
 */
export function parseClusterSlots(reply: ParsedReply, askedHost: string): (string | undefined)[] | string {
  if (reply instanceof ReplyErrorValue) return reply.message;
  if (!Array.isArray(reply)) return 'CLUSTER SLOTS answered something else than an array';
  const owners = new Array<string | undefined>(SLOT_COUNT).fill(undefined);
  for (const range of reply) {
    if (!Array.isArray(range) || range.length < 3) continue;
    const [start, end, master] = range;
    if (typeof start !== 'number' || typeof end !== 'number' || !Array.isArray(master)) continue;
    const host = master[0] instanceof Buffer && master[0].length > 0 && master[0].toString() !== '?' ? master[0].toString() : askedHost;
    const port = master[1];
    if (typeof port !== 'number') continue;
    const address = hostPort(host, port);
    for (let slot = Math.max(0, start); slot <= end && slot < SLOT_COUNT; slot++) owners[slot] = address;
  }
  return owners;
}

/** `host:port` (an IPv6 host in brackets) split back into its parts. */
export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(address.slice(colon + 1)) };
}
