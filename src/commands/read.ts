// Owns the cached reads: GET and MGET, each key through the shared read-through.
import { cacheKey, type ReadValue } from '../cache/read-through.ts';
import { BackendReplyError } from '../errors.ts';
import { command } from './spec.ts';
import type { CommandContext, CommandSpec } from './types.ts';

/** MGET answers nil for a key of another type, where the GET that fetched it got WRONGTYPE. */
function nilIfWrongType(err: unknown): null {
  if (err instanceof BackendReplyError && err.message.startsWith('WRONGTYPE')) return null;
  throw err;
}

/** GET: the one step both the command table and the decoder's whole-GET path run. */
export const getKey = ({ proxy, client }: CommandContext, key: string) => proxy.readThrough.read(key, client.db);

export const readCommands: CommandSpec[] = [
  command({
    name: 'get',
    arity: 2,
    flags: ['readonly', 'fast'],
    aclCategories: ['@read', '@string', '@fast'],
    keys: [1, 1, 1],
    group: 'string',
    summary: 'Returns the string value of a key, from the cache while it is fresh.',
    complexity: 'O(1)',
    arguments: [{ name: 'key', type: 'key' }],
    handler: (ctx, args) => getKey(ctx, cacheKey(args[1]!)),
  }),
  command({
    name: 'mget',
    arity: -2,
    flags: ['readonly', 'fast'],
    aclCategories: ['@read', '@string', '@fast'],
    keys: [1, -1, 1],
    group: 'string',
    since: '1.0.0',
    summary: 'Returns the string values of one or more keys; the misses are fetched together.',
    complexity: 'O(N) where N is the number of keys to retrieve.',
    arguments: [{ name: 'key', type: 'key', multiple: true }],
    handler: ({ proxy, client }, args) => {
      const values = new Array<ReadValue | Promise<ReadValue>>(args.length - 1);
      let waiting = false;
      for (let i = 1; i < args.length; i++) {
        const value = proxy.readThrough.read(cacheKey(args[i]!), client.db);
        if (value instanceof Promise) {
          waiting = true;
          values[i - 1] = value.catch(nilIfWrongType);
        } else values[i - 1] = value;
      }
      // Misses started in this loop leave for Redis in one write (ioredis auto-pipelining).
      // Promise.all takes the hits (plain values) as they are, beside the misses' promises.
      // eslint-disable-next-line @typescript-eslint/await-thenable
      return waiting ? Promise.all(values) : (values as ReadValue[]);
    },
  }),
];
