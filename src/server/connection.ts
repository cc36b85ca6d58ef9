// Owns one RESP client connection: decode requests, run them, write replies in request order, apply back-pressure.
import type { Socket } from 'node:net';
import { hostPort } from '../address.ts';
import { monotonicSeconds } from '../clock.ts';
import { dispatch, dispatchGet } from '../commands/dispatch.ts';
import type { ClientState, CommandContext, ProxyContext } from '../commands/types.ts';
import { ProxyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { batchBytes, takeBatch, writeReply } from '../resp/reply-encoder.ts';
import type { ProtocolVersion, Reply } from '../resp/reply.ts';
import { RequestDecoder } from '../resp/request-decoder.ts';

/**
 * A client that does not read its replies must not make the proxy buffer without bound. Past this many
 * reply bytes waiting in its socket, the proxy stops encoding replies for it and stops reading its
 * requests, until the socket drains. Replies still owed hold only references to cached values.
 */
const OUTPUT_LIMIT_BYTES = 1024 * 1024;
/** Stop reading a client while more than this many of its replies wait on the backend or on earlier replies. */
const PENDING_LIMIT = 16 * 1024;

/** A reply that cannot be written yet: its own lookup, or one before it, is still waiting on Redis. */
interface Slot {
  reply: Reply | undefined;
  settled: boolean;
  /** Encoded in the protocol in force when its command ran, even if a later HELLO changed it. */
  readonly protocol: ProtocolVersion;
}

export interface ConnectionOptions {
  id: number;
  socket: Socket;
  proxy: ProxyContext;
  queryBufferLimit: number;
  log: Logger;
}

export class RespConnection implements ClientState {
  readonly id: number;
  protocol: ProtocolVersion = 2;
  name = '';
  libName = '';
  libVersion = '';
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly createdAt = monotonicSeconds();
  lastActiveAt = this.createdAt;
  lastCommand = 'NULL';
  closeAfterReply = false;

  readonly #socket: Socket;
  readonly #decoder: RequestDecoder;
  readonly #ctx: CommandContext;
  readonly #log: Logger;
  // Replies waiting to be written, oldest first; a reply is written only when all before it are.
  #queue: Slot[] = [];
  #queueHead = 0;
  #drainScheduled = false;
  // After QUIT, a protocol error or the client's end of stream: read nothing more (bytes that still
  // arrive are dropped), and close once every reply owed is written.
  #inputStopped = false;
  // Shutting down: read nothing more from the socket, but answer the requests already received.
  #draining = false;
  #paused = false;

  constructor({ id, socket, proxy, queryBufferLimit, log }: ConnectionOptions) {
    this.id = id;
    this.#socket = socket;
    this.#decoder = new RequestDecoder(queryBufferLimit);
    this.#ctx = { client: this, proxy };
    this.#log = log;
    this.remoteAddress = hostPort(socket.remoteAddress, socket.remotePort);
    this.localAddress = hostPort(socket.localAddress, socket.localPort);

    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('data', (chunk: Buffer) => this.receive(chunk, false));
    // The client closed its sending side: answer what it already asked, then close ours.
    socket.on('end', () => this.#stopInput());
    // Once the replies owed are written after input stopped, the connection is done (as Redis closes
    // it after QUIT), whether or not the client closes its side.
    socket.on('finish', () => socket.destroy());
    socket.on('drain', this.#drain);
    socket.on('error', () => socket.destroy());
  }

  /** Handles bytes read from the client; `borrowed` bytes are overwritten once this returns. */
  receive(chunk: Buffer, borrowed: boolean): void {
    // Input has stopped: whatever else the client sends is not a request of this connection.
    if (this.#inputStopped || this.#draining) return;
    this.#decoder.push(chunk, borrowed);
    this.#process();
  }

  /** Shutdown: reads nothing more, answers the requests already received, then closes. */
  closeWhenIdle(): void {
    this.#draining = true;
    this.#socket.pause();
    if (!this.#paused) this.#process();
  }

  /** Unsent reply bytes (CLIENT LIST's omem). */
  get outputBytes(): number {
    return this.#socket.writableLength;
  }

  /** Received bytes not yet turned into a request (CLIENT LIST's qbuf). */
  get inputBytes(): number {
    return this.#decoder.buffered;
  }

  /** No request will be read any more: stop reading, and close once every reply owed is written. */
  #stopInput(): void {
    this.#inputStopped = true;
    this.#socket.pause();
    this.#flush();
  }

  #process(): void {
    this.lastActiveAt = monotonicSeconds();
    const stats = this.#ctx.proxy.stats;
    try {
      while (!this.#inputStopped && !this.#paused) {
        let request: Buffer[] | string | null;
        try {
          request = this.#decoder.next();
        } catch (err) {
          // The stream cannot be trusted past a malformed frame: answer the error, then close.
          stats.protocolErrors++;
          this.#enqueue(err as Error);
          this.#stopInput();
          break;
        }
        if (request === null) {
          // Shutting down and every request received is answered or under way: close when written.
          if (this.#draining) this.#stopInput();
          break;
        }
        stats.commandsProcessed++;
        this.#enqueue(this.#run(request));
        if (this.closeAfterReply) {
          this.#stopInput();
          break;
        }
        // Limits matter only if more requests wait in this read (a lone GET never needs the check).
        if (this.#decoder.buffered > 0 && this.#overLimits()) this.#pause();
      }
    } finally {
      // Whatever is left unread (a partial frame, or requests held back by back-pressure) is copied now.
      this.#decoder.release();
      this.#flush();
    }
    // A client sending one request per read and never reading its replies is stopped here: the
    // check above only runs between requests of one read.
    if (!this.#paused && !this.#inputStopped && this.#overLimits()) this.#pause();
  }

  #pause(): void {
    this.#paused = true;
    this.#socket.pause();
  }

  /** A string request is the key of a GET the decoder recognised whole. */
  #run(request: Buffer[] | string): Reply | Promise<Reply> {
    try {
      return typeof request === 'string' ? dispatchGet(this.#ctx, request) : dispatch(this.#ctx, request);
    } catch (err) {
      const name = typeof request === 'string' ? 'GET' : request[0]!.toString('latin1');
      this.#log.error(`command ${name} failed: ${(err as Error)?.message ?? String(err)}`, { event: 'internal_error', command: name, err });
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  #enqueue(result: Reply | Promise<Reply>): void {
    if (!(result instanceof Promise)) {
      if (this.#queueHead === this.#queue.length) writeReply(result, this.protocol);
      else this.#queue.push({ reply: result, settled: true, protocol: this.protocol });
      return;
    }
    const slot: Slot = { reply: undefined, settled: false, protocol: this.protocol };
    this.#queue.push(slot);
    result.then(
      (reply) => this.#settle(slot, reply),
      (err: unknown) => {
        if (!(err instanceof ProxyError)) this.#log.error(`read failed: ${(err as Error)?.message ?? String(err)}`, { event: 'internal_error', err });
        this.#settle(slot, err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  #settle(slot: Slot, reply: Reply): void {
    slot.reply = reply;
    slot.settled = true;
    // Several lookups usually land in one backend read; write their replies together.
    if (!this.#drainScheduled) {
      this.#drainScheduled = true;
      setImmediate(this.#drain);
    }
  }

  #drain = (): void => {
    this.#drainScheduled = false;
    try {
      const queue = this.#queue;
      while (this.#queueHead < queue.length && queue[this.#queueHead]!.settled && !this.#outputFull()) {
        const slot = queue[this.#queueHead++]!;
        writeReply(slot.reply!, slot.protocol);
      }
      if (this.#queueHead === queue.length) {
        this.#queue = [];
        this.#queueHead = 0;
      }
    } finally {
      this.#flush();
    }
    this.#resumeIfBelowLimits();
  };

  #outputFull(): boolean {
    return this.#socket.writableLength + batchBytes() > OUTPUT_LIMIT_BYTES;
  }

  #overLimits(): boolean {
    return this.#outputFull() || this.#queue.length - this.#queueHead > PENDING_LIMIT;
  }

  #resumeIfBelowLimits(): void {
    if (!this.#paused || this.#overLimits()) return;
    this.#paused = false;
    if (!this.#draining && !this.#inputStopped) this.#socket.resume();
    // Requests may already sit decoded-to-be in the buffer; they will not arrive as a new 'data' event.
    this.#process();
  }

  /** Writes everything encoded since the last flush, in one write when possible. */
  #flush(): void {
    // Always take the batch, even for a closed socket: the encoder's buffer is shared.
    const batch = takeBatch();
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (Array.isArray(batch)) {
      socket.cork();
      for (const part of batch) socket.write(part);
      socket.uncork();
    } else if (batch !== null) socket.write(batch);
    if (this.#inputStopped && this.#queueHead === this.#queue.length && !socket.writableEnded) socket.end();
  }
}
