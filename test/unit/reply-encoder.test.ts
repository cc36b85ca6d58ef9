// Reply encoding: exact RESP2 and RESP3 bytes for each reply type, byte-counted and binary-safe.
import test from 'ava';
import RedisParser from 'redis-parser';
import { BackendReplyError, BackendUnavailableError, CommandError, ProtocolError } from '../../src/errors.ts';
import { encodeReply, takeBatch, writeReply } from '../../src/resp/reply-encoder.ts';
import { OK, SimpleString, VerbatimString, type Reply } from '../../src/resp/reply.ts';

const resp = (reply: Reply, protocol: 2 | 3 = 2) => encodeReply(reply, protocol).toString('latin1');

test('scalars in RESP2', (t) => {
  t.is(resp(Buffer.from('Superhero')), '$9\r\nSuperhero\r\n');
  t.is(resp(null), '$-1\r\n');
  t.is(resp(42), ':42\r\n');
  t.is(resp(-1), ':-1\r\n');
  t.is(resp(OK), '+OK\r\n');
  t.is(resp(''), '$0\r\n\r\n');
});

test('string replies are binary, one byte per char (cached values); text is UTF-8, counted in bytes', (t) => {
  t.is(resp('\x00\r\n\xff'), '$4\r\n\x00\r\n\xff\r\n');
  t.deepEqual(encodeReply('\xe9', 2), Buffer.from([0x24, 0x31, 13, 10, 0xe9, 13, 10]));
  t.is(resp(new VerbatimString('héllo €')), '$10\r\nh\xc3\xa9llo \xe2\x82\xac\r\n');
  t.is(resp(new VerbatimString('€'), 3), '=7\r\ntxt:\xe2\x82\xac\r\n');
});

test('null, maps and verbatim strings differ between RESP2 and RESP3', (t) => {
  t.is(resp(null, 3), '_\r\n');
  const map = new Map<string, Reply>([
    ['proto', 3],
    ['server', 'redis'],
  ]);
  t.is(resp(map, 2), '*4\r\n$5\r\nproto\r\n:3\r\n$6\r\nserver\r\n$5\r\nredis\r\n');
  t.is(resp(map, 3), '%2\r\n$5\r\nproto\r\n:3\r\n$6\r\nserver\r\n$5\r\nredis\r\n');
  t.is(resp(new VerbatimString('a:1\r\n'), 3), '=9\r\ntxt:a:1\r\n\r\n');
  t.is(resp(new VerbatimString('a:1\r\n'), 2), '$5\r\na:1\r\n\r\n');
});

test('nested arrays', (t) => {
  t.is(resp([Buffer.from('a'), null, [1, new SimpleString('x')]]), '*3\r\n$1\r\na\r\n$-1\r\n*2\r\n:1\r\n+x\r\n');
  t.is(resp([]), '*0\r\n');
});

test('errors: command errors as written, backend replies relayed, others prefixed with ERR, CR/LF flattened', (t) => {
  t.is(resp(new CommandError("ERR wrong number of arguments for 'get' command")), "-ERR wrong number of arguments for 'get' command\r\n");
  t.is(resp(new CommandError('NOPROTO unsupported protocol version')), '-NOPROTO unsupported protocol version\r\n');
  t.is(
    resp(new BackendReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')),
    '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n',
  );
  t.is(
    resp(new BackendUnavailableError('backend Redis at 127.0.0.1:1 is unavailable (connect ECONNREFUSED)')),
    '-ERR backend Redis at 127.0.0.1:1 is unavailable (connect ECONNREFUSED)\r\n',
  );
  t.is(resp(new ProtocolError('Protocol error: invalid bulk length')), '-ERR Protocol error: invalid bulk length\r\n');
  t.is(resp(new Error('boom\r\nsecond line')), '-ERR internal error: boom second line\r\n');
});

test('binary values and large values survive byte for byte, as redis-parser reads them', (t) => {
  const values = [Buffer.from([0, 13, 10, 255, 36]), Buffer.alloc(10 * 1024, 0xff), Buffer.alloc(200 * 1024, 1), Buffer.alloc(0)];
  for (const v of values) writeReply(v, 2);
  const batch = takeBatch();
  if (!Array.isArray(batch)) return t.fail('a 200 KiB value is handed over as its own part');
  const decoded: Buffer[] = [];
  const parser = new RedisParser({ returnBuffers: true, returnReply: (r: Buffer) => decoded.push(r), returnError: (e: Error) => t.fail(e.message) });
  for (const part of batch) parser.execute(part);
  t.deepEqual(decoded, values);
});

test('a batch of many small replies leaves as one buffer; slab overflow keeps order', (t) => {
  for (let i = 0; i < 10; i++) writeReply(Buffer.from(`v${i}`), 2);
  t.true(takeBatch() instanceof Buffer);
  const expected: string[] = [];
  for (let i = 0; i < 5000; i++) {
    writeReply(Buffer.alloc(100, 97 + (i % 26)), 2);
    expected.push(`$100\r\n${String.fromCharCode(97 + (i % 26)).repeat(100)}\r\n`);
  }
  const batch = takeBatch();
  t.is((Array.isArray(batch) ? Buffer.concat(batch) : batch!).toString('latin1'), expected.join(''));
  t.is(takeBatch(), null);
});
