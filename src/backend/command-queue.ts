// Owns the commands of one backend connection: those waiting to be written, those awaiting a reply, their deadlines and retries.
import { withResolvers } from '../deferred.ts';
import { BackendReplyError } from '../errors.ts';
import type { LatencyHistogram } from '../stats.ts';

/** A reply as the backend hands it over: a bulk string's bytes, null, or a whole frame (ReplyReader). */
export type BackendReply = unknown;

/** One command, from the moment it is queued until its promise settles. */
interface Pending {
  /** The command as RESP bytes, one char per byte (latin1). */
  readonly frame: string;
  /** Safe to send again on a new connection when the first one died before its reply (reads are). */
  readonly retriable: boolean;
  /** The database it must run in; ANY_DB when it does not matter. */
  readonly db: number;
  /** Its reply is wanted as the frame Redis sent, even on a connection that decodes replies to values. */
  readonly raw: boolean;
  /** The sweep tick after which it fails with a timeout; counted from when it was queued, once. */
  readonly deadlineTick: number;
  resolve(reply: BackendReply): void;
  reject(err: Error): void;
  /** Settled already (timed out): its reply, when it comes, is read and dropped to keep the stream in step. */
  settled: boolean;
  /** When the write that sent it was made (performance.now(), ms); -1 when not measured (a handshake, a SELECT). */
  sentAt: number;
  /** Its reply's latency is counted (not for a PTTL that rides along with a fill). */
  readonly measured: boolean;
  /** NOT_A_PAIR, or a pair of commands answered by two replies (a fill's GET and PTTL): which one comes next. */
  pair: number;
  /** A pair's first reply (or the error it was), kept until the second comes. */
  first: BackendReply;
  firstError: Error | undefined;
  /** Called as a pair's first reply is read, before anything read after it is handled. */
  readonly onFirst: (() => void) | undefined;
}

/** Pending.pair: one command, one reply. */
const NOT_A_PAIR = 0;
/** Pending.pair: two commands; the first reply is next. */
const PAIR_FIRST = 1;
/** Pending.pair: two commands; the first reply came, the second is next. */
const PAIR_SECOND = 2;

/** A FIFO array with a moving head: O(1) push and shift without Array#shift's copying. */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }

  /** The i-th item from the oldest (0 ≤ i < length). */
  at(i: number): T {
    return this.#items[this.#head + i]!;
  }

  shift(): T | undefined {
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    }
    return item;
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const items = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return items;
  }
}

/** For commands that run in whatever database the connection has selected (a handshake, SELECT itself). */
export const ANY_DB = -1;
/** The connection's database after Redis refused a SELECT: the next command for any database selects it again. */
const UNKNOWN_DB = -2;

export interface CommandQueueOptions {
  /** Most commands awaiting a reply at once (MAX_PARALLEL); the rest wait their turn unsent. */
  maxInFlight: number;
  /** Ticks of the owner's sweep a command may wait, queued or sent, before it fails; Infinity: never. */
  deadlineTicks: number;
  /** The error a command gets when its deadline passes. */
  timedOut: () => Error;
  /** Where each reply's latency is counted (from its write to the read that brought it); none when absent. */
  latency?: LatencyHistogram;
}

/**
 * Redis answers the commands of a connection in order, so replies are matched to the oldest command
 * awaiting one. A command's deadline is counted once, from when it was queued, whether it waits for
 * a turn, for the connection, or for its reply. Deadlines are kept in ticks of the owner's sweep
 * rather than as clock readings or timers: queueing a command then costs no clock call and no timer,
 * and since every command gets the same allowance, the oldest always expires first.
 */
export class CommandQueue {
  readonly #options: CommandQueueOptions;
  // Not written yet: held while the connection is not ready, or over maxInFlight, or until this turn's write.
  readonly #unsent = new Fifo<Pending>();
  // Written, reply not read yet, oldest first.
  readonly #sent = new Fifo<Pending>();
  #tick = 0;
  /** The database the connection has selected, as far as written commands go. */
  #db = 0;
  /**
   * A SELECT written whose reply has not come. Redis may refuse it (BUSY while a script runs, an ACL
   * user without SELECT), and then runs what follows in the database it had: until the reply, only
   * reads follow it, and a refusal fails them (see #selectRefused); a write waits for the reply.
   */
  #unconfirmedSelect: Pending | undefined;

  constructor(options: CommandQueueOptions) {
    this.#options = options;
  }

  /** A new connection starts in `db` (its handshake selected it). */
  connected(db: number): void {
    this.#db = db;
    this.#unconfirmedSelect = undefined;
  }

  /** Queues a command for database `db` (or ANY_DB); it is written by the next takeWritable(). */
  enqueue(frame: string, retriable: boolean, db: number = ANY_DB, raw = false, measured = true): Promise<BackendReply> {
    const { pending, promise } = this.#pending(frame, retriable, db, raw, measured, undefined);
    this.#unsent.push(pending);
    return promise;
  }

  /**
   * Queues `frame`, two commands whose two replies answer it together (a read and its PTTL, retriable):
   * the promise resolves with both, or rejects with the first's error or the second's. `onFirst` runs as
   * the first reply is read, before whatever the connection reads after it (an invalidation) is handled.
   */
  enqueuePair(frame: string, db: number, onFirst: () => void): Promise<[BackendReply, BackendReply]> {
    const { pending, promise } = this.#pending(frame, true, db, false, true, onFirst);
    this.#unsent.push(pending);
    return promise as Promise<[BackendReply, BackendReply]>;
  }

  /** Marks `frame` written now, ahead of the queue (a connection's handshake); its reply comes first. */
  sendNow(frame: string): Promise<BackendReply> {
    const { pending, promise } = this.#pending(frame, false, ANY_DB, false, false, undefined);
    this.#sent.push(pending);
    return promise;
  }

  /** A command not yet settled, its deadline counted from now; `onFirst` makes it a pair. */
  #pending(frame: string, retriable: boolean, db: number, raw: boolean, measured: boolean, onFirst: (() => void) | undefined) {
    const { promise, resolve, reject } = withResolvers<BackendReply>();
    const pending: Pending = {
      frame,
      retriable,
      db,
      raw,
      deadlineTick: this.#tick + this.#options.deadlineTicks,
      resolve,
      reject,
      settled: false,
      sentAt: -1,
      measured,
      pair: onFirst === undefined ? NOT_A_PAIR : PAIR_FIRST,
      first: undefined,
      firstError: undefined,
      onFirst,
    };
    return { pending, promise };
  }

  /**
   * The frames to write now, as one string, moved to awaiting a reply; '' when none may go. A command
   * for another database than the connection's is preceded by a SELECT, whose reply is dropped. `now`
   * is when they are written (performance.now(), ms), for their latency; omitted, they are not measured.
   */
  takeWritable(now = -1): string {
    let text = '';
    while (this.#unsent.length > 0 && this.#sent.length < this.#options.maxInFlight) {
      const pending = this.#unsent.peek()!;
      if (pending.settled) {
        this.#unsent.shift();
        continue;
      }
      if (pending.db !== ANY_DB && pending.db !== this.#db) {
        // One database switch at a time: the next waits until Redis has accepted this one.
        if (this.#unconfirmedSelect !== undefined) break;
        text += this.#select(pending.db);
      }
      // Behind a SELECT Redis may still refuse, a write could land in the wrong database.
      if (this.#unconfirmedSelect !== undefined && !pending.retriable) break;
      this.#unsent.shift();
      if (pending.measured) pending.sentAt = now;
      this.#sent.push(pending);
      text += pending.frame;
    }
    return text;
  }

  /** Sends SELECT `db` (its frame, returned) and takes `db` as the connection's until Redis says otherwise. */
  #select(db: number): string {
    const frame = `*2\r\n$6\r\nSELECT\r\n$${String(db).length}\r\n${db}\r\n`;
    const select: Pending = {
      frame,
      retriable: false,
      db: ANY_DB,
      raw: false,
      deadlineTick: Infinity,
      // A connection that relays frames hands an error reply over as a frame, not as an error.
      resolve: (reply) => {
        if (reply instanceof Buffer && reply[0] === 0x2d /* - */)
          this.#selectRefused(select, db, new BackendReplyError(reply.latin1Slice(1, reply.length - 2)));
        else if (this.#unconfirmedSelect === select) this.#unconfirmedSelect = undefined;
      },
      reject: (err) => this.#selectRefused(select, db, err),
      settled: false,
      sentAt: -1,
      measured: false,
      pair: NOT_A_PAIR,
      first: undefined,
      firstError: undefined,
      onFirst: undefined,
    };
    this.#sent.push(select);
    this.#unconfirmedSelect = select;
    this.#db = db;
    return frame;
  }

  /**
   * Redis refused a SELECT (its reply was just read): the connection is still in its previous
   * database, and every read written after the SELECT runs there. They fail with Redis's refusal,
   * as they would have on Redis itself, and their replies are dropped when they come; so do the
   * writes for `db` that waited for it (selecting again for them could repeat for as long as Redis
   * refuses: each refusal fails at least the command it was sent for).
   */
  #selectRefused(select: Pending, db: number, err: Error): void {
    if (this.#unconfirmedSelect !== select) return;
    this.#unconfirmedSelect = undefined;
    this.#db = UNKNOWN_DB;
    for (let i = 0; i < this.#sent.length; i++) {
      const pending = this.#sent.at(i);
      if (pending.settled) continue;
      pending.settled = true;
      pending.reject(err);
    }
    for (let next = this.#unsent.peek(); next !== undefined && (next.settled || next.db === db); next = this.#unsent.peek()) {
      this.#unsent.shift();
      if (next.settled) continue;
      next.settled = true;
      next.reject(err);
    }
  }

  /** Commands that could be written now if the connection allows. */
  get writable(): boolean {
    return this.#unsent.length > 0 && this.#sent.length < this.#options.maxInFlight;
  }

  /** Whether the next reply to come is wanted as its frame (see Pending.raw). */
  get nextIsRaw(): boolean {
    return this.#sent.peek()?.raw === true;
  }

  /** Commands written and not yet answered (including timed-out ones whose reply is still due). */
  get awaitingReply(): number {
    return this.#sent.length;
  }

  /** Commands queued and not yet written. */
  get waiting(): number {
    return this.#unsent.length;
  }

  /**
   * Hands the next reply to its command; false when no command awaits one (the stream is out of step).
   * `now` is when the chunk holding it was read (performance.now(), ms); omitted, it is not measured.
   */
  reply(reply: BackendReply, now = -1): boolean {
    const pending = this.#sent.peek();
    if (pending === undefined) return false;
    if (pending.pair === PAIR_FIRST) {
      this.#firstOfPair(pending, reply, undefined);
      return true;
    }
    this.#sent.shift();
    this.#measure(pending, now);
    if (!pending.settled) {
      pending.settled = true;
      if (pending.pair === NOT_A_PAIR) pending.resolve(reply);
      else if (pending.firstError !== undefined) pending.reject(pending.firstError);
      else pending.resolve([pending.first, reply]);
    }
    return true;
  }

  /** Hands an error reply to its command; false when no command awaits one. `now` as for reply(). */
  replyError(err: Error, now = -1): boolean {
    const pending = this.#sent.peek();
    if (pending === undefined) return false;
    if (pending.pair === PAIR_FIRST) {
      this.#firstOfPair(pending, undefined, err);
      return true;
    }
    this.#sent.shift();
    this.#measure(pending, now);
    if (!pending.settled) {
      pending.settled = true;
      pending.reject(pending.firstError ?? err);
    }
    return true;
  }

  #firstOfPair(pending: Pending, reply: BackendReply, err: Error | undefined): void {
    pending.pair = PAIR_SECOND;
    pending.first = reply;
    pending.firstError = err;
    if (!pending.settled) pending.onFirst?.();
  }

  /** Counts a reply's latency: also a late one, whose command timed out, since it shows how slow Redis was. */
  #measure(pending: Pending, now: number): void {
    if (pending.sentAt >= 0 && now >= 0) this.#options.latency?.observe(now - pending.sentAt);
  }

  /**
   * Advances the sweep by one tick and fails every command whose deadline passed. A sent one stays in
   * place, settled, until its reply arrives (or the connection goes). Returns how many failed.
   */
  sweep(): number {
    const tick = ++this.#tick;
    const timedOut = this.#options.timedOut;
    let failed = 0;
    const expire = (pending: Pending) => {
      if (pending.settled || pending.deadlineTick > tick) return;
      pending.settled = true;
      pending.reject(timedOut());
      failed++;
    };
    // At most maxInFlight of these, plus a handshake: look at each.
    for (let i = 0; i < this.#sent.length; i++) expire(this.#sent.at(i));
    // Possibly many, oldest first, and the oldest expires first: stop at the first still in time.
    for (let i = 0; i < this.#unsent.length && this.#unsent.at(i).deadlineTick <= tick; i++) expire(this.#unsent.at(i));
    // Timed-out commands not yet written never will be.
    while (this.#unsent.peek()?.settled) this.#unsent.shift();
    return failed;
  }

  /**
   * The connection is gone. Commands awaiting a reply that may be sent again (reads) go back to the
   * front of the queue, oldest first, to be written on the next connection; the others fail with `err`.
   */
  connectionLost(err: Error): void {
    // Its SELECT failing with the connection is no refusal: what waited for it goes on the next one.
    this.#unconfirmedSelect = undefined;
    const retry: Pending[] = [];
    for (const pending of this.#sent.drain()) {
      if (pending.settled) continue;
      if (pending.retriable) {
        // Sent again whole: a pair's first reply comes again too.
        if (pending.pair !== NOT_A_PAIR) {
          pending.pair = PAIR_FIRST;
          pending.first = undefined;
          pending.firstError = undefined;
        }
        retry.push(pending);
        continue;
      }
      pending.settled = true;
      pending.reject(err);
    }
    if (retry.length === 0) return;
    for (const pending of this.#unsent.drain()) retry.push(pending);
    for (const pending of retry) this.#unsent.push(pending);
  }

  /** Fails every command not yet answered with `err` (the backend is down, or closing). */
  failAll(err: Error): void {
    this.#unconfirmedSelect = undefined;
    for (const fifo of [this.#sent, this.#unsent]) {
      for (const pending of fifo.drain()) {
        if (pending.settled) continue;
        pending.settled = true;
        pending.reject(err);
      }
    }
  }
}
