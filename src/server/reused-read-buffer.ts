// Owns moving an accepted client socket onto reads into one reused buffer, so that a read allocates nothing.
import net from 'node:net';

/**
 * Why: Node gives every read a freshly allocated ArrayBuffer, and V8 frees them inside its next
 * scavenge pause. At one GET per read that is thousands per pause, and those pauses (0.5 to 1.5 ms
 * once the young generation has grown) are what held the proxy's p99 above twemproxy's
 * (BENCHMARKS.md). net.Socket's documented `onread` option reads into one buffer instead, but
 * net.Server has no way to ask for it, so the accepted socket's handle is handed to a new Socket
 * that does, the way Node's own net.Server builds its sockets. When this Node's socket does not
 * look as expected, the accepted socket is used as it is.
 *
 * One buffer serves every connection: each read is handled to the end before the next one lands.
 */
const readBuffer = Buffer.allocUnsafe(64 * 1024);
/**
 * Views of the buffer's first n bytes, kept for small n: a client repeating one request (a GET of
 * same-length keys) then gets the same view each time instead of a new Buffer object per read.
 */
const SHARED_VIEW_LIMIT = 1024;
const views = new Array<Buffer | undefined>(SHARED_VIEW_LIMIT + 1);
const viewOf = (bytes: number): Buffer => (bytes <= SHARED_VIEW_LIMIT ? (views[bytes] ??= readBuffer.subarray(0, bytes)) : readBuffer.subarray(0, bytes));

/** A libuv stream handle, as far as this module relies on it. */
interface StreamHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

/**
 * Takes over `accepted` (from a server created with pauseOnConnect) and returns a socket whose reads
 * call `onRead` with a view of the shared buffer, valid only until `onRead` returns; or null, with
 * `accepted` untouched and still paused, when this Node does not allow it.
 */
export function adoptWithReusedReadBuffer(accepted: net.Socket, allowHalfOpen: boolean, onRead: (bytes: Buffer) => void): net.Socket | null {
  const internal = accepted as unknown as { _handle: Partial<StreamHandle> | null };
  const handle = internal._handle;
  if (typeof handle?.useUserBuffer !== 'function' || accepted.destroyed) return null;
  // The old socket lets go of the handle without closing it; destroying it settles the server's count.
  internal._handle = null;
  accepted.destroy();
  const options: net.SocketConstructorOpts = {
    allowHalfOpen,
    onread: {
      buffer: readBuffer,
      callback: (bytes) => {
        onRead(viewOf(bytes));
        return true; // keep reading; back-pressure goes through pause() and resume()
      },
    },
  };
  // An accepted handle goes in as `handle`, as net.Server passes it; the typings know only BoundSocket.
  Object.assign(options, { handle });
  return new net.Socket(options);
}
