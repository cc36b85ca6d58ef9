// Owns the Redis-protocol listener: accepts connections up to MAX_CLIENTS and tracks them for CLIENT LIST and shutdown.
import net, { type AddressInfo } from 'node:net';
import type { ClientState, ProxyContext } from '../commands/types.ts';
import type { Logger } from '../log.ts';
import { RespConnection } from './connection.ts';
import { listen } from './listen.ts';
import { adoptWithReusedReadBuffer } from './reused-read-buffer.ts';

export interface RespFrontEnd {
  listen(host: string, port: number): Promise<AddressInfo>;
  clients(): Iterable<ClientState>;
  /** Stops accepting, lets each connection finish the replies it owes, then closes what is left. */
  close(): Promise<void>;
}

export interface RespFrontEndOptions {
  proxy: ProxyContext;
  maxClients: number;
  queryBufferLimit: number;
  log: Logger;
}

/** How long shutdown waits for connections to finish their replies. */
const CLOSE_GRACE_MS = 1000;

export function createRespFrontEnd({ proxy, maxClients, queryBufferLimit, log }: RespFrontEndOptions): RespFrontEnd {
  const connections = new Map<net.Socket, RespConnection>();
  let nextId = 1;

  // allowHalfOpen: a client that sends its requests and then shuts its side down still gets its replies.
  // pauseOnConnect: nothing is read before the socket is moved onto the reused read buffer.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (accepted) => {
    if (connections.size >= maxClients) {
      proxy.stats.rejectedConnections++;
      accepted.on('error', () => accepted.destroy());
      // Read and drop whatever it sent, so closing does not reset the connection before the error arrives.
      accepted.resume();
      accepted.end('-ERR max number of clients reached\r\n');
      return;
    }
    let connection: RespConnection | undefined;
    const socket = adoptWithReusedReadBuffer(accepted, true, (bytes) => connection!.receive(bytes, true)) ?? accepted.resume();
    connection = new RespConnection({ id: nextId++, socket, proxy, queryBufferLimit, log });
    connections.set(socket, connection);
    proxy.stats.respConnectionsTotal++;
    proxy.stats.respClients++;
    socket.once('close', () => {
      connections.delete(socket);
      proxy.stats.respClients--;
    });
  });

  return {
    listen: (host, port) => listen(server, host, port),
    clients: () => connections.values(),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of connections.values()) connection.closeWhenIdle();
      const grace = setTimeout(() => {
        for (const socket of connections.keys()) socket.destroy();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
    },
  };
}
