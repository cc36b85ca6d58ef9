// The backend's COMMAND table as the proxy reads it: every key position it derives agrees with Redis's own COMMAND GETKEYS.
import test from 'ava';
import { keyPositions, lookupCommand, parseCommandTable } from '../../src/commands/backend-commands.ts';
import { parseReply } from '../../src/resp/reply-reader.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { run } from '../helpers/tools.ts';

const REQUESTS: string[][] = [
  ['GET', 'k'],
  ['MGET', 'a', 'b', 'c'],
  ['MSET', 'a', '1', 'b', '2'],
  ['SET', 'k', 'v', 'EX', '10', 'GET'],
  ['ZUNIONSTORE', 'dst', '2', 'a', 'b', 'WEIGHTS', '1', '2'],
  ['EVAL', 'return 1', '2', 'a', 'b', 'x'],
  ['EVALSHA', 'abc', '1', 'k'],
  ['FCALL', 'f', '1', 'k', 'arg'],
  ['XREAD', 'COUNT', '2', 'STREAMS', 's1', 's2', '0', '0'],
  ['XREAD', 'BLOCK', '0', 'STREAMS', 's1', '$'],
  ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 's', '>'],
  ['BLPOP', 'a', 'b', '0'],
  ['BRPOPLPUSH', 'a', 'b', '0'],
  ['BLMOVE', 'a', 'b', 'LEFT', 'RIGHT', '0'],
  ['LMPOP', '2', 'a', 'b', 'LEFT'],
  ['BZMPOP', '0', '2', 'a', 'b', 'MIN'],
  ['GEORADIUS', 'k', '0', '0', '1', 'km', 'STORE', 'd'],
  ['GEOSEARCHSTORE', 'd', 's', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km'],
  ['OBJECT', 'ENCODING', 'k'],
  ['MEMORY', 'USAGE', 'k'],
  ['COPY', 'a', 'b', 'DB', '2'],
  ['RENAME', 'a', 'b'],
  ['SINTERCARD', '2', 'a', 'b'],
  ['BITOP', 'AND', 'd', 'a', 'b'],
  ['DEL', 'a', 'b', 'c'],
  ['PFMERGE', 'd', 'a', 'b'],
  ['ZRANGESTORE', 'd', 's', '0', '-1'],
  ['XADD', 's', '*', 'f', 'v'],
  ['EXPIRE', 'k', '10'],
  ['GETEX', 'k', 'PERSIST'],
  ['HSET', 'h', 'f', 'v', 'g', 'w'],
  ['SMOVE', 'a', 'b', 'm'],
  ['SORT', 'k', 'LIMIT', '0', '1'],
  ['SORT', 'k', 'STORE', 'd'],
  ['SORT_RO', 'k'],
  ['MIGRATE', 'h', '1', '', '0', '10', 'KEYS', 'a', 'b'],
  ['WATCH', 'a', 'b'],
  ['TOUCH', 'a', 'b'],
  ['LCS', 'a', 'b'],
];

test('every key position derived from the table matches COMMAND GETKEYS; unknown ones are reported as unknown', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const { stdout } = await run('redis-cli', ['-h', redis.host, '-p', String(redis.port), '--no-raw', 'PING']);
  t.is(stdout.trim(), 'PONG');
  const raw = await redis.client.callBuffer('COMMAND');
  // Through ioredis the reply is already parsed; re-encode it the way the backend would read it.
  const table = parseCommandTable(toParsed(raw));
  t.truthy(table);
  t.true(table!.size > 200, `${table!.size} commands`);
  const unknown: string[] = [];
  for (const request of REQUESTS) {
    const args = request.map((a) => Buffer.from(a));
    const c = lookupCommand(table!, request[0]!.toLowerCase(), args);
    t.truthy(c, request[0]);
    const positions = keyPositions(c!, args);
    const expected = ((await redis.client.call('COMMAND', 'GETKEYS', ...request).catch(() => [])) as string[]).map(String);
    if (positions === null) {
      unknown.push(request.join(' '));
      continue;
    }
    t.deepEqual(
      positions.map((i) => request[i]),
      expected,
      request.join(' '),
    );
  }
  // Only commands whose keys Redis itself finds with code, not specs.
  t.deepEqual(unknown, ['SORT k LIMIT 0 1', 'SORT k STORE d', 'SORT_RO k', 'MIGRATE h 1  0 10 KEYS a b']);
});

test('a COMMAND reply in RESP3 (maps) parses to the same table as in RESP2', (t) => {
  const resp2 =
    '*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n';
  const resp3 = resp2
    .replace('*2\r\n+readonly', '~2\r\n+readonly')
    .replace('*6\r\n$5\r\nflags', '%3\r\n$5\r\nflags')
    .replace('*4\r\n$4\r\ntype\r\n$5\r\nindex', '%2\r\n$4\r\ntype\r\n$5\r\nindex')
    .replace('*2\r\n$5\r\nindex\r\n:1', '%1\r\n$5\r\nindex\r\n:1')
    .replace('*4\r\n$4\r\ntype\r\n$5\r\nrange', '%2\r\n$4\r\ntype\r\n$5\r\nrange')
    .replace('*6\r\n$7\r\nlastkey', '%3\r\n$7\r\nlastkey');
  const a = parseCommandTable(parseReply(Buffer.from(resp2)))!;
  const b = parseCommandTable(parseReply(Buffer.from(resp3)))!;
  t.deepEqual([...a.get('get')!.flags], ['readonly', 'fast']);
  t.deepEqual(a, b);
  t.deepEqual(keyPositions(a.get('get')!, [Buffer.from('GET'), Buffer.from('k')]), [1]);
});

/** ioredis's parsed reply (strings as Buffers, numbers, arrays) in parseReply's shapes. */
function toParsed(v: unknown): import('../../src/resp/reply-reader.ts').ParsedReply {
  if (Array.isArray(v)) return v.map(toParsed);
  if (typeof v === 'string') return Buffer.from(v);
  return v as number | Buffer | null;
}
