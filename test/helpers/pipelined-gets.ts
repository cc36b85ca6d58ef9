// Owns sending a batch of pipelined GETs on a raw socket and collecting every reply until the proxy closes it (drain tests).
import net from 'node:net';
import RedisParser from 'redis-parser';

export type GetReply = string | Error | null;

/** Writes `count` pipelined GETs of `prefix`0… on `socket` (once connected); resolves with every reply once the proxy closes it. */
export function pipelinedGets(socket: net.Socket, prefix: string, count: number): Promise<GetReply[]> {
  return new Promise((resolve, reject) => {
    const replies: GetReply[] = [];
    const parser = new RedisParser({
      returnReply: (r: string | null) => replies.push(r),
      returnError: (e: Error) => replies.push(e),
      returnFatalError: reject,
    });
    socket.on('data', (d) => parser.execute(d));
    socket.on('close', () => resolve(replies));
    let text = '';
    for (let i = 0; i < count; i++) text += `*2\r\n$3\r\nGET\r\n$${`${prefix}${i}`.length}\r\n${prefix}${i}\r\n`;
    socket.write(text);
  });
}

/** The same on a new connection to `port`; a failure to connect rejects. */
export function pipelinedGetsOnNewConnection(port: number, prefix: string, count: number): Promise<GetReply[]> {
  const socket = net.connect(port, '127.0.0.1');
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return connected.then(() => pipelinedGets(socket, prefix, count));
}
