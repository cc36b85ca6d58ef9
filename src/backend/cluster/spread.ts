// Owns the commands a cluster answers from several masters: multi-key commands split by slot and merged in the client's key order, and whole-keyspace commands fanned out to every master and combined.
import type { ProtocolVersion } from '../../resp/reply.ts';
import { encodeCommand } from '../../resp/command-encoder.ts';
import { parseReply } from '../../resp/reply-reader.ts';
import { keySlot } from './slot-map.ts';

/** How the cluster layer sends one command: by slot (to its master, redirections followed), or to one master by address. */
export interface SpreadTarget {
  toSlot(slot: number, protocol: ProtocolVersion, frame: string): Promise<Buffer>;
  toMaster(address: string, protocol: ProtocolVersion, frame: string): Promise<Buffer>;
  /** Every master, in a stable order (by address): SCAN's cursor names one by its place here. */
  masters(): readonly string[];
}

/** What a spread command answers: the merged frame, in the client's protocol. */
type Spreader = (args: readonly Buffer[], protocol: ProtocolVersion, target: SpreadTarget) => Promise<Buffer>;

const isError = (frame: Buffer) => frame[0] === 0x2d /* - */ || frame[0] === 0x21; /* ! */
const OK_FRAME = Buffer.from('+OK\r\n');
const nullFrame = (protocol: ProtocolVersion) => Buffer.from(protocol === 3 ? '_\r\n' : '$-1\r\n');
const bulk = (b: Buffer) => Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')]);
const integerOf = (frame: Buffer) => Number(frame.latin1Slice(1, frame.length - 2));

/** Integer replies added up into one; the first reply that is not an integer (an error) instead. */
const sumOf = (frames: readonly Buffer[]): Buffer =>
  frames.find((f) => f[0] !== 0x3a /* : */) ?? Buffer.from(`:${frames.reduce((sum, f) => sum + integerOf(f), 0)}\r\n`);

/** Keys (at `first`, every `step` arguments) grouped by slot, each with the argument indexes it takes along. */
function bySlot(args: readonly Buffer[], first: number, step: number): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = first; i < args.length; i += step) {
    const slot = keySlot(args[i]!);
    let group = groups.get(slot);
    if (group === undefined) groups.set(slot, (group = []));
    group.push(i);
  }
  return groups;
}

/** Runs `name` once per slot on that slot's keys (with `step - 1` following arguments each); the replies in group order. */
function perSlot(args: readonly Buffer[], protocol: ProtocolVersion, target: SpreadTarget, step: number) {
  const groups = bySlot(args, 1, step);
  const sent = [...groups].map(([slot, indexes]) => {
    const part: Buffer[] = [args[0]!];
    for (const i of indexes) for (let j = 0; j < step; j++) part.push(args[i + j]!);
    return target.toSlot(slot, protocol, encodeCommand(part));
  });
  return { groups: [...groups.values()], replies: Promise.all(sent) };
}

const mget: Spreader = async (args, protocol, target) => {
  const { groups, replies } = perSlot(args, protocol, target, 1);
  const frames = await replies;
  const merged = new Array<Buffer>(args.length - 1);
  for (let g = 0; g < groups.length; g++) {
    const frame = frames[g]!;
    if (isError(frame)) return frame;
    const parsed = parseReply(frame);
    if (!Array.isArray(parsed)) return frame;
    groups[g]!.forEach((argIndex, k) => {
      const item = parsed[k];
      merged[argIndex - 1] = item instanceof Buffer ? bulk(item) : nullFrame(protocol);
    });
  }
  return Buffer.concat([Buffer.from(`*${merged.length}\r\n`), ...merged]);
};

/** MSET: one per slot. Not atomic across slots (each master applies its own part), as with any cluster client. */
const mset: Spreader = async (args, protocol, target) => {
  if ((args.length - 1) % 2 !== 0) return Buffer.from(`-ERR wrong number of arguments for '${args[0]!.toString('latin1').toLowerCase()}' command\r\n`);
  const frames = await perSlot(args, protocol, target, 2).replies;
  return frames.find(isError) ?? OK_FRAME;
};

/** DEL, UNLINK, EXISTS, TOUCH: one per slot, the counts added up (a key named twice counts twice, as in Redis). */
const sumOfCounts: Spreader = async (args, protocol, target) => sumOf(await perSlot(args, protocol, target, 1).replies);

/** Multi-key commands Redis's semantics let the proxy split by slot and merge, in the client's key order. */
export const SPLIT: ReadonlyMap<string, Spreader> = new Map([
  ['mget', mget],
  ['mset', mset],
  ['del', sumOfCounts],
  ['unlink', sumOfCounts],
  ['exists', sumOfCounts],
  ['touch', sumOfCounts],
]);

/** The same command on every master; the replies in the masters' order. */
function everyMaster(args: readonly Buffer[], protocol: ProtocolVersion, target: SpreadTarget): Promise<Buffer[]> {
  const frame = encodeCommand(args);
  return Promise.all(target.masters().map((address) => target.toMaster(address, protocol, frame)));
}

const dbsize: Spreader = async (args, protocol, target) => sumOf(await everyMaster(args, protocol, target));

/** KEYS: every master's keys, one array (each master's part as it sent it). */
const keys: Spreader = async (args, protocol, target) => {
  const frames = await everyMaster(args, protocol, target);
  const error = frames.find(isError);
  if (error) return error;
  let count = 0;
  const parts: Buffer[] = [];
  for (const frame of frames) {
    const eol = frame.indexOf(10);
    count += Number(frame.latin1Slice(1, eol - 1));
    parts.push(frame.subarray(eol + 1));
  }
  return Buffer.concat([Buffer.from(`*${count}\r\n`), ...parts]);
};

/** The same on every master; its first reply, or the first error (FLUSHALL, FUNCTION LOAD, SCRIPT LOAD, …). */
const onEveryMaster: Spreader = async (args, protocol, target) => {
  const frames = await everyMaster(args, protocol, target);
  return frames.find(isError) ?? frames[0] ?? OK_FRAME;
};

/** SCRIPT EXISTS: a script exists only where every master has it. */
const scriptExists: Spreader = async (args, protocol, target) => {
  const frames = await everyMaster(args, protocol, target);
  const error = frames.find(isError);
  if (error) return error;
  const all = frames.map((f) => parseReply(f));
  const n = args.length - 2;
  let out = `*${n}\r\n`;
  for (let i = 0; i < n; i++) out += `:${all.every((a) => Array.isArray(a) && a[i] === 1) ? 1 : 0}\r\n`;
  return Buffer.from(out);
};

/** RANDOMKEY: from a master picked at random, the next one when it has none. */
const randomKey: Spreader = async (args, protocol, target) => {
  const masters = [...target.masters()];
  const frame = encodeCommand(args);
  while (masters.length > 0) {
    const [address] = masters.splice(Math.floor(Math.random() * masters.length), 1);
    const reply = await target.toMaster(address!, protocol, frame);
    if (isError(reply) || (reply[0] === 0x24 && reply[1] !== 0x2d) || reply[0] === 0x2b) return reply;
  }
  return nullFrame(protocol);
};

/** A proxy SCAN cursor holds a master's own cursor and that master's place: cursor × SCAN_NODES + place. */
const SCAN_NODES = 1024n;

/**
 * SCAN: one master after another, in address order. The cursor the client gets names the master and
 * that master's cursor, so a client's loop until 0 visits every master's keys, as Redis's guarantees
 * hold on each. A failover or resharding during the loop weakens them as it does for any cluster client.
 */
const scan: Spreader = async (args, protocol, target) => {
  let cursor: bigint;
  try {
    cursor = BigInt(args[1]!.toString('latin1'));
    if (cursor < 0n) throw new RangeError('negative');
  } catch {
    return Buffer.from('-ERR invalid cursor\r\n');
  }
  const masters = target.masters();
  const place = Number(cursor % SCAN_NODES);
  const address = masters[place];
  if (address === undefined) return Buffer.from('*2\r\n$1\r\n0\r\n*0\r\n');
  const reply = await target.toMaster(address, protocol, encodeCommand([args[0]!, String(cursor / SCAN_NODES), ...args.slice(2)]));
  if (isError(reply)) return reply;
  const parsed = parseReply(reply);
  if (!Array.isArray(parsed) || !(parsed[0] instanceof Buffer) || !Array.isArray(parsed[1])) return reply;
  const own = BigInt(parsed[0].toString('latin1'));
  const next = own !== 0n ? own * SCAN_NODES + BigInt(place) : place + 1 < masters.length ? BigInt(place + 1) : 0n;
  const text = next.toString();
  const items = parsed[1].filter((k): k is Buffer => k instanceof Buffer);
  return Buffer.concat([Buffer.from(`*2\r\n$${text.length}\r\n${text}\r\n*${items.length}\r\n`), ...items.map(bulk)]);
};

/** `db0:keys=1,expires=0,avg_ttl=0` lines of INFO's Keyspace section, summed over masters (avg_ttl: the largest). */
function sumKeyspaces(texts: readonly string[]): string {
  const totals = new Map<string, { keys: number; expires: number; avgTtl: number }>();
  for (const text of texts) {
    for (const m of text.matchAll(/^(db\d+):keys=(\d+),expires=(\d+),avg_ttl=(\d+)/gm)) {
      const t = totals.get(m[1]!) ?? { keys: 0, expires: 0, avgTtl: 0 };
      t.keys += Number(m[2]);
      t.expires += Number(m[3]);
      t.avgTtl = Math.max(t.avgTtl, Number(m[4]));
      totals.set(m[1]!, t);
    }
  }
  return [...totals].map(([db, t]) => `${db}:keys=${t.keys},expires=${t.expires},avg_ttl=${t.avgTtl}\r\n`).join('');
}

/** INFO: the first master's, with the Keyspace section counting every master's keys (what DBSIZE counts). */
const info: Spreader = async (args, protocol, target) => {
  const frames = await everyMaster(args, protocol, target);
  const first = frames[0];
  if (first === undefined || isError(first)) return first ?? Buffer.from('-ERR no master known\r\n');
  const texts = frames.map((f) => {
    const text = isError(f) ? undefined : parseReply(f);
    return text instanceof Buffer ? text.toString('latin1') : '';
  });
  const merged = texts[0]!.replace(/(# Keyspace\r\n)(?:db\d+:[^\r\n]*\r\n)*/, (_, heading: string) => heading + sumKeyspaces(texts));
  const body = Buffer.from(merged, 'latin1');
  return Buffer.concat([Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n')]);
};

/** Whole-keyspace commands (and those that must reach every master), by name or `name|sub`. */
export const FAN_OUT: ReadonlyMap<string, Spreader> = new Map([
  ['dbsize', dbsize],
  ['info', info],
  ['keys', keys],
  ['scan', scan],
  ['randomkey', randomKey],
  ['flushall', onEveryMaster],
  ['flushdb', onEveryMaster],
  ['script|load', onEveryMaster],
  ['script|flush', onEveryMaster],
  ['script|exists', scriptExists],
  ['function|load', onEveryMaster],
  ['function|delete', onEveryMaster],
  ['function|flush', onEveryMaster],
  ['function|restore', onEveryMaster],
  ['config|set', onEveryMaster],
  ['config|resetstat', onEveryMaster],
]);
