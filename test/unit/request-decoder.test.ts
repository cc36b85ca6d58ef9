// The request decoder: frames whole, byte by byte and split at every offset, checked against redis-parser.
import test from 'ava';
import RedisParser from 'redis-parser';
import { ProtocolError } from '../../src/errors.ts';
import { RequestDecoder } from '../../src/resp/request-decoder.ts';

const LIMIT = 64 * 1024 * 1024;

function multibulk(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** A request as its arguments, copied: a whole GET frame's key is shown as ['GET', key] to compare with the general path. */
const asArgs = (req: Buffer[] | string): Buffer[] =>
  typeof req === 'string' ? [Buffer.from('GET'), Buffer.from(req, 'latin1')] : req.map((b) => Buffer.from(b));

/** The whole-GET path does not keep the command's spelling (get, GeT): compare names in upper case. */
const upper = (requests: Buffer[][]) => requests.map(([name, ...rest]) => [Buffer.from(name!.toString().toUpperCase()), ...rest]);

/** Feeds `chunks` one at a time and collects every request. */
function decodeChunks(chunks: Buffer[], { recogniseGet = false } = {}): Buffer[][] {
  const decoder = new RequestDecoder(LIMIT, { recogniseGet });
  const out: Buffer[][] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let req = decoder.next(); req !== null; req = decoder.next()) {
      out.push(asArgs(req));
    }
  }
  return out;
}

/** What redis-parser, a well-kept RESP parser, reads from the same bytes. */
function referenceDecode(bytes: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  const parser = new RedisParser({
    returnBuffers: true,
    returnReply: (reply: Buffer[]) => out.push(reply),
    returnError: (err: Error) => {
      throw err;
    },
  });
  parser.execute(bytes);
  return out;
}

const splitEvery = (bytes: Buffer, size: number) => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
};

const binary = Buffer.from([0, 1, 13, 10, 255, 42, 13, 36, 42]);
const FRAMES: (string | Buffer)[][] = [
  ['GET', 'Batman'],
  ['get', ''],
  ['MGET', 'a', 'b', 'c', 'd'],
  ['GET', binary],
  ['ECHO', '*3\r\n$3\r\nfoo\r\n'],
  ['PING'],
  ['GET', 'x'.repeat(300)],
  ['SET', 'k', Buffer.alloc(10_000, 7)],
  Array.from({ length: 200 }, (_, i) => `k${i}`),
];

test('well-formed frames decode as redis-parser reads them', (t) => {
  const stream = Buffer.concat(FRAMES.map(multibulk));
  const expected = referenceDecode(stream);
  t.is(expected.length, FRAMES.length);
  t.deepEqual(decodeChunks([stream]), expected, 'whole');
  t.deepEqual(decodeChunks(splitEvery(stream, 1)), expected, 'byte by byte');
  t.deepEqual(decodeChunks(splitEvery(stream, 7)), expected, '7-byte chunks');
  t.deepEqual(decodeChunks(splitEvery(stream, 4096)), expected, '4 KiB chunks');
});

test('every frame decodes the same when split in two at every offset', (t) => {
  for (const frame of FRAMES) {
    const bytes = multibulk(frame);
    const expected = referenceDecode(bytes);
    const step = bytes.length > 2000 ? 97 : 1;
    for (let i = 0; i <= bytes.length; i += step) {
      const got = decodeChunks([bytes.subarray(0, i), bytes.subarray(i)]);
      if (JSON.stringify(got) !== JSON.stringify(expected)) return t.fail(`frame ${JSON.stringify(frame).slice(0, 40)} split at ${i}`);
    }
  }
  t.pass();
});

test('a pipeline of frames split at every offset yields the same requests', (t) => {
  const stream = Buffer.concat(FRAMES.slice(0, 7).map(multibulk));
  const expected = referenceDecode(stream);
  for (let i = 0; i <= stream.length; i++) {
    for (const j of [i, Math.min(stream.length, i + 3), Math.min(stream.length, i + 50)]) {
      const got = decodeChunks([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
      if (JSON.stringify(got) !== JSON.stringify(expected)) return t.fail(`split at ${i} and ${j}`);
    }
  }
  t.pass();
});

test('whole GET frames decode to their key, the same as the general path, however they are split', (t) => {
  const keys = ['Batman', '', 'key:000000001234', 'x'.repeat(1000), Buffer.from([0, 13, 10, 255, 36]).toString('latin1')];
  const frames = keys.map((k) => multibulk(['GET', Buffer.from(k, 'latin1')]));
  frames.push(multibulk(['get', 'lower']), multibulk(['GeT', 'mixed']));
  const stream = Buffer.concat(frames);
  const general = upper(decodeChunks([stream]));
  for (const size of [stream.length, 1, 2, 7, 19, 64]) {
    t.deepEqual(upper(decodeChunks(splitEvery(stream, size), { recogniseGet: true })), general, `chunks of ${size}`);
  }
  for (let i = 0; i <= stream.length; i += 3) {
    t.deepEqual(upper(decodeChunks([stream.subarray(0, i), stream.subarray(i)], { recogniseGet: true })), general);
  }
  const decoder = new RequestDecoder(LIMIT);
  decoder.push(multibulk(['GET', 'Batman']));
  t.is(decoder.next(), 'Batman', 'a whole GET comes back as its key');
});

/**
 * Feeds `chunks` the way the server does: each is copied into one reused buffer, lent to the decoder,
 * released, then the buffer is scribbled over. Requests are kept as returned and only read at the end,
 * so any request that still pointed into the reused buffer would come out corrupted.
 */
function decodeBorrowed(chunks: Buffer[], recogniseGet: boolean): Buffer[][] {
  const reused = Buffer.alloc(Math.max(1, ...chunks.map((c) => c.length)));
  const decoder = new RequestDecoder(LIMIT, { recogniseGet });
  const kept: (Buffer[] | string)[] = [];
  for (const chunk of chunks) {
    chunk.copy(reused);
    decoder.push(reused.subarray(0, chunk.length), true);
    for (let req = decoder.next(); req !== null; req = decoder.next()) kept.push(req);
    decoder.release();
    reused.fill(0xee);
  }
  return kept.map(asArgs);
}

test('requests decoded from a borrowed, reused read buffer do not change when it is overwritten', (t) => {
  const inline = Buffer.from('PING\r\nECHO "hello world"\r\n');
  const stream = Buffer.concat([...FRAMES.map(multibulk), inline, multibulk(['GET', 'last'])]);
  const expected = upper(decodeChunks([stream]));
  t.is(expected.length, FRAMES.length + 3);
  for (const recogniseGet of [true, false]) {
    for (const size of [stream.length, 1, 2, 5, 19, 64, 1000, 4096]) {
      t.deepEqual(upper(decodeBorrowed(splitEvery(stream, size), recogniseGet)), expected, `chunks of ${size}, recogniseGet ${recogniseGet}`);
    }
    for (let i = 0; i <= 400; i++) {
      const got = upper(decodeBorrowed([stream.subarray(0, i), stream.subarray(i)], recogniseGet));
      if (JSON.stringify(got) !== JSON.stringify(expected)) return t.fail(`split at ${i}, recogniseGet ${recogniseGet}`);
    }
  }
});

test('borrowed bytes must be released before more are pushed', (t) => {
  const decoder = new RequestDecoder(LIMIT);
  decoder.push(Buffer.from('*2\r\n$3\r\nGET\r\n$2\r\nab'), true);
  t.throws(() => decoder.push(Buffer.from('\r\n'), true), { message: /release\(\)/ });
  decoder.release();
  t.is(decoder.buffered, 19, 'the unread bytes were kept');
  decoder.push(Buffer.from('\r\n'), true);
  t.deepEqual(decoder.next(), [Buffer.from('GET'), Buffer.from('ab')]);
  decoder.release();
  t.is(decoder.buffered, 0);
});

test('frames that only look like GET take the general path and its errors', (t) => {
  const cases = [
    multibulk(['GETX', 'k']),
    multibulk(['GET', 'a', 'b']),
    multibulk(['GET']),
    Buffer.from('*2\r\n$3\r\nGET\r\n$03\r\nabc\r\n'),
    Buffer.from('*2\r\n$3\r\nGET\r\n$-1\r\n'),
    Buffer.from('*2\r\n$3\r\nGET\r\n$9999999999\r\n'),
  ];
  for (const bytes of cases) {
    const run = (recogniseGet: boolean) => {
      try {
        return decodeChunks([bytes], { recogniseGet });
      } catch (err) {
        return (err as Error).message;
      }
    };
    t.deepEqual(run(true), run(false), bytes.toString('latin1'));
  }
});

test('inline commands, alone or between multibulk frames, with CRLF or bare LF', (t) => {
  const stream = Buffer.concat([
    Buffer.from('PING\r\n'),
    multibulk(['GET', 'a']),
    Buffer.from('GET  "hello world"  b\n'),
    Buffer.from('\r\n'), // a blank line is skipped, as Redis does
    Buffer.from('echo \'it\\\'s\' "\\x41\\n"\r\n'),
  ]);
  const expected = [['PING'], ['GET', 'a'], ['GET', 'hello world', 'b'], ['echo', "it's", 'A\n']].map((r) => r.map((s) => Buffer.from(s)));
  t.deepEqual(decodeChunks([stream]), expected);
  t.deepEqual(decodeChunks(splitEvery(stream, 1)), expected);
});

test('empty multibulk frames are skipped without a request', (t) => {
  t.deepEqual(decodeChunks([Buffer.from('*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n')]), [[Buffer.from('PING')]]);
});

const protocolErrors: [name: string, bytes: string, message: string, limit?: number][] = [
  ['absurd multibulk length', '*99999999999\r\n', 'Protocol error: invalid multibulk length'],
  ['multibulk length over 1M', '*1048577\r\n', 'Protocol error: invalid multibulk length'],
  ['non-numeric multibulk length', '*x\r\n', 'Protocol error: invalid multibulk length'],
  ['multibulk length with a plus sign', '*+1\r\n', 'Protocol error: invalid multibulk length'],
  ['an item that is not a bulk string', '*2\r\n+GET\r\n', "Protocol error: expected '$', got '+'"],
  ['negative bulk length', '*1\r\n$-5\r\n', 'Protocol error: invalid bulk length'],
  ['non-numeric bulk length', '*1\r\n$abc\r\n', 'Protocol error: invalid bulk length'],
  ['absurd bulk length', '*1\r\n$99999999999\r\n', 'Protocol error: invalid bulk length'],
  ['unbalanced quotes', 'GET "abc\r\n', 'Protocol error: unbalanced quotes in request'],
  ['closing quote not followed by a space', 'GET "abc"def\r\n', 'Protocol error: unbalanced quotes in request'],
  ['bulk bigger than QUERY_BUFFER_LIMIT', '*1\r\n$2000\r\n', 'Protocol error: request bigger than QUERY_BUFFER_LIMIT (1000 bytes)', 1000],
];

for (const [name, bytes, message, limit] of protocolErrors) {
  test(`protocol error: ${name}`, (t) => {
    const decoder = new RequestDecoder(limit ?? LIMIT);
    decoder.push(Buffer.from(bytes));
    t.throws(() => decoder.next(), { instanceOf: ProtocolError, message });
  });
}

test('requests that outgrow QUERY_BUFFER_LIMIT piece by piece are refused before they are all buffered', (t) => {
  const decoder = new RequestDecoder(1000);
  decoder.push(Buffer.from('*600\r\n'));
  let error: unknown;
  try {
    for (let i = 0; i < 600 && !error; i++) {
      decoder.push(Buffer.from('$1\r\nx\r\n'));
      decoder.next();
    }
  } catch (err) {
    error = err;
  }
  t.true(error instanceof ProtocolError);
  t.regex((error as Error).message, /QUERY_BUFFER_LIMIT/);
});

test('an inline line or header without a newline is refused past 64 KiB', (t) => {
  const inline = new RequestDecoder(LIMIT);
  inline.push(Buffer.alloc(65 * 1024, 0x61));
  t.throws(() => inline.next(), { message: 'Protocol error: too big inline request' });
  const header = new RequestDecoder(LIMIT);
  header.push(Buffer.concat([Buffer.from('*1\r\n$'), Buffer.alloc(65 * 1024, 0x31)]));
  t.throws(() => header.next(), { message: 'Protocol error: too big bulk count string' });
});

test('a 4 MiB value arriving in 16 KiB chunks decodes whole', (t) => {
  const value = Buffer.alloc(4 * 1024 * 1024, 9);
  const chunks = splitEvery(multibulk(['GET', value]), 16 * 1024);
  const decoder = new RequestDecoder(LIMIT);
  let result: Buffer[] | null = null;
  for (const chunk of chunks) {
    decoder.push(chunk);
    result = (decoder.next() as Buffer[] | null) ?? result;
  }
  t.true(result![1]!.equals(value));
  t.is(decoder.buffered, 0);
});

test('random bytes, in random chunks, only ever yield requests or a ProtocolError', (t) => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const alphabet = Buffer.from('*$\r\n0123456789-+GETget xX"\'\\');
  for (let run = 0; run < 2000; run++) {
    const bytes = Buffer.from(
      Array.from({ length: 1 + Math.floor(random() * 120) }, () =>
        random() < 0.8 ? alphabet[Math.floor(random() * alphabet.length)]! : Math.floor(random() * 256),
      ),
    );
    const decoder = new RequestDecoder(4096, { recogniseGet: random() < 0.5 });
    try {
      for (let i = 0; i < bytes.length; ) {
        const size = 1 + Math.floor(random() * 16);
        decoder.push(bytes.subarray(i, i + size));
        i += size;
        for (let req = decoder.next(); req !== null; req = decoder.next()) {
          if (typeof req !== 'string' && !(Array.isArray(req) && req.length > 0 && req.every((a) => a instanceof Buffer))) {
            return t.fail(`odd request from ${JSON.stringify(bytes.toString('latin1'))}`);
          }
        }
      }
    } catch (err) {
      if (!(err instanceof ProtocolError)) return t.fail(`${(err as Error).message} from ${JSON.stringify(bytes.toString('latin1'))}`);
    }
  }
  t.pass();
});
