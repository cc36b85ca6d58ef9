// Owns what the backing Redis says about its commands (COMMAND): flags, arity and where each command's keys are.
import { type ParsedReply, ReplyErrorValue } from '../resp/reply-reader.ts';

/** Where a command's keys are, as Redis 7 describes it in COMMAND's key specifications. */
export interface KeySpec {
  /** RO, RW, OW, RM, access, update, insert, delete, incomplete, … (lower case). */
  readonly flags: ReadonlySet<string>;
  readonly begin: { type: 'index'; index: number } | { type: 'keyword'; keyword: string; startFrom: number } | { type: 'unknown' };
  readonly find:
    | { type: 'range'; lastKey: number; keyStep: number; limit: number }
    | { type: 'keynum'; keyNumIndex: number; firstKey: number; keyStep: number }
    | { type: 'unknown' };
}

/** One command (or subcommand, named `container|sub`) of the backend. */
export interface BackendCommand {
  /** Lower case, as Redis names it. */
  readonly name: string;
  readonly arity: number;
  readonly flags: ReadonlySet<string>;
  /** Legacy first key, last key, step (Redis < 7 has only these). */
  readonly legacyKeys: readonly [first: number, last: number, step: number];
  /** Redis 7's key specifications; empty when the backend gives none. */
  readonly keySpecs: readonly KeySpec[];
  readonly subcommands: ReadonlyMap<string, BackendCommand>;
}

export type CommandTable = ReadonlyMap<string, BackendCommand>;

const text = (v: ParsedReply | undefined): string => (v instanceof Buffer ? v.toString('latin1') : typeof v === 'number' ? String(v) : '');
const lower = (v: ParsedReply | undefined): string => text(v).toLowerCase();

/** A flat [key, value, key, value, …] array (a RESP3 map, or RESP2's array form of it) as a Map. */
function fields(v: ParsedReply | undefined): Map<string, ParsedReply> {
  const map = new Map<string, ParsedReply>();
  if (!Array.isArray(v)) return map;
  for (let i = 0; i + 1 < v.length; i += 2) map.set(lower(v[i]), v[i + 1]!);
  return map;
}

function keySpec(raw: ParsedReply): KeySpec {
  const spec = fields(raw);
  const flags = new Set(Array.isArray(spec.get('flags')) ? (spec.get('flags') as ParsedReply[]).map(lower) : []);
  const bs = fields(spec.get('begin_search'));
  const bsSpec = fields(bs.get('spec'));
  const fk = fields(spec.get('find_keys'));
  const fkSpec = fields(fk.get('spec'));
  const num = (m: Map<string, ParsedReply>, k: string) => Number(m.get(k));
  let begin: KeySpec['begin'] = { type: 'unknown' };
  if (lower(bs.get('type')) === 'index') begin = { type: 'index', index: num(bsSpec, 'index') };
  else if (lower(bs.get('type')) === 'keyword') begin = { type: 'keyword', keyword: lower(bsSpec.get('keyword')), startFrom: num(bsSpec, 'startfrom') };
  let find: KeySpec['find'] = { type: 'unknown' };
  if (lower(fk.get('type')) === 'range') {
    find = { type: 'range', lastKey: num(fkSpec, 'lastkey'), keyStep: num(fkSpec, 'keystep'), limit: num(fkSpec, 'limit') };
  } else if (lower(fk.get('type')) === 'keynum') {
    find = { type: 'keynum', keyNumIndex: num(fkSpec, 'keynumidx'), firstKey: num(fkSpec, 'firstkey'), keyStep: num(fkSpec, 'keystep') };
  }
  return { flags, begin, find };
}

/** One entry of COMMAND's (or COMMAND INFO's) reply. */
function command(raw: ParsedReply): BackendCommand | undefined {
  if (!Array.isArray(raw) || raw.length < 6) return undefined;
  const sub = Array.isArray(raw[9]) ? raw[9].map(command).filter((c) => c !== undefined) : [];
  return {
    name: lower(raw[0]),
    arity: Number(raw[1]),
    flags: new Set(Array.isArray(raw[2]) ? raw[2].map(lower) : []),
    legacyKeys: [Number(raw[3]), Number(raw[4]), Number(raw[5])],
    keySpecs: Array.isArray(raw[8]) ? raw[8].map(keySpec) : [],
    subcommands: new Map(sub.map((c) => [c.name.slice(c.name.indexOf('|') + 1), c])),
  };
}

/** The backend's table from its COMMAND reply; undefined when the reply is an error or not a table. */
export function parseCommandTable(reply: ParsedReply): CommandTable | undefined {
  if (reply instanceof ReplyErrorValue || !Array.isArray(reply) || reply.length === 0) return undefined;
  const table = new Map<string, BackendCommand>();
  for (const raw of reply) {
    const c = command(raw);
    if (c) table.set(c.name, c);
  }
  return table.size > 0 ? table : undefined;
}

/** The entry for a request: the subcommand's when the command has subcommands and one is named. */
export function lookupCommand(table: CommandTable, name: string, args: readonly Buffer[]): BackendCommand | undefined {
  const c = table.get(name);
  if (c === undefined || c.subcommands.size === 0 || args.length < 2) return c;
  return c.subcommands.get(args[1]!.toString('latin1').toLowerCase()) ?? c;
}

/** The positions of a request's keys, or null when they cannot be told from the table alone. */
export function keyPositions(c: BackendCommand, args: readonly Buffer[]): number[] | null {
  if (c.keySpecs.length === 0) {
    // Redis < 7: first/last/step, exact unless the command moves its keys around.
    if (c.flags.has('movablekeys')) return null;
    const [first, last, step] = c.legacyKeys;
    if (first === 0) return [];
    const end = last < 0 ? args.length + last : last;
    const keys: number[] = [];
    for (let i = first; i <= end && i < args.length; i += Math.max(1, step)) keys.push(i);
    return keys;
  }
  const keys: number[] = [];
  for (const spec of c.keySpecs) {
    const found = specKeys(spec, args);
    if (found === null) return null;
    keys.push(...found);
  }
  return keys;
}

/** Mirrors getKeysUsingKeySpecs in Redis's db.c; null for a spec it cannot follow (incomplete, unknown). */
function specKeys(spec: KeySpec, args: readonly Buffer[]): number[] | null {
  if (spec.flags.has('incomplete')) return null;
  const argc = args.length;
  let first = 0;
  if (spec.begin.type === 'index') first = spec.begin.index;
  else if (spec.begin.type === 'keyword') {
    const { keyword, startFrom } = spec.begin;
    const start = startFrom > 0 ? startFrom : argc + startFrom;
    const end = startFrom > 0 ? argc - 1 : 1;
    for (let i = start; i !== end; i = start <= end ? i + 1 : i - 1) {
      if (i >= argc || i < 1) break;
      if (args[i]!.toString('latin1').toLowerCase() === keyword) {
        first = i + 1;
        break;
      }
    }
    // The keyword is absent: this spec names no keys.
    if (first === 0) return [];
  } else return null;

  let last: number;
  let step: number;
  if (spec.find.type === 'range') {
    const { lastKey, keyStep, limit } = spec.find;
    step = keyStep;
    if (lastKey >= 0) last = first + lastKey;
    else if (limit === 0) last = argc + lastKey;
    else last = first + (Math.floor((argc - first) / limit) + lastKey);
  } else if (spec.find.type === 'keynum') {
    const { keyNumIndex, firstKey, keyStep } = spec.find;
    step = keyStep;
    if (first + keyNumIndex >= argc) return [];
    const numKeys = Number(args[first + keyNumIndex]!.toString('latin1'));
    if (!Number.isInteger(numKeys) || numKeys < 0) return [];
    first += firstKey;
    last = first + numKeys - 1;
  } else return null;
  // Out of bounds: a syntax error Redis will report; no keys are touched.
  if (last >= argc || last < first || first >= argc) return [];
  const keys: number[] = [];
  for (let i = first; i <= last; i += Math.max(1, step)) keys.push(i);
  return keys;
}
