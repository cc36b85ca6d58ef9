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
    Buffer.from("echo 'it\\'s' \"\\x41\\n\"\r\n"),
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
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = Buffer.from('*$\r\n0123456789-+GETget xX"\'\\');
  for (let run = 0; run < 2000; run++) {
    const bytes = Buffer.from(
      Array.from({ length: 1 + Math.floor(random() * 120) }, () =>
        random() < 0.8 ? alphabet[Math.floor(random() * alphabet.length)]! : Math.floor(random() * 256),
      ),
    );
    const decoder = new RequestDecoder(4096, { recogniseGet: random() < 0.5 });
    try {
      for (let i = 0; i < bytes.length;) {
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

/**
 * A long pipeline as clients send it: whole GETs, GETs with binary keys, MGETs, SETs with values of every
 * size, PINGs and inline commands; returned with the requests it must decode to (GET keys as ['GET', key]).
 */
function pipeline(count: number, random: () => number): { bytes: Buffer; expected: Buffer[][] } {
  const parts: Buffer[] = [];
  const expected: Buffer[][] = [];
  const key = () => Buffer.from(`key:${Math.floor(random() * 100_000)}`);
  for (let i = 0; i < count; i++) {
    const r = random();
    let args: Buffer[];
    if (r < 0.6) args = [Buffer.from('GET'), key()];
    else if (r < 0.7) args = [Buffer.from('GET'), Buffer.from([13, 10, 0, 42, 36, 255, i & 0xff])];
    else if (r < 0.8) args = [Buffer.from('MGET'), ...Array.from({ length: 1 + Math.floor(random() * 30) }, key)];
    else if (r < 0.9) args = [Buffer.from('SET'), key(), Buffer.alloc(Math.floor(random() * (r < 0.802 ? 200_000 : 200)), i & 0xff)];
    else if (r < 0.95) args = [Buffer.from('PING')];
    else {
      parts.push(Buffer.from(`ECHO inline-${i}\r\n`));
      expected.push([Buffer.from('ECHO'), Buffer.from(`inline-${i}`)]);
      continue;
    }
    parts.push(multibulk(args));
    expected.push(args);
  }
  return { bytes: Buffer.concat(parts), expected };
}

/**
 * Decodes `chunks` the way a connection under back-pressure does: after each push it takes at most
 * `take()` requests before the next chunk arrives, so unread chunks pile up behind the one being parsed.
 */
function decodeHoldingBack(chunks: Buffer[], take: () => number): Buffer[][] {
  const decoder = new RequestDecoder(LIMIT);
  const out: Buffer[][] = [];
  const drain = (max: number) => {
    for (let n = 0; n < max; n++) {
      const req = decoder.next();
      if (req === null) return;
      out.push(asArgs(req));
    }
  };
  for (const chunk of chunks) {
    decoder.push(chunk);
    drain(take());
  }
  drain(Infinity);
  if (decoder.buffered !== 0) throw new Error(`${decoder.buffered} bytes left undecoded`);
  return out;
}

/** The first request that differs, for a readable failure instead of a 100 000-element diff. */
function firstDifference(got: Buffer[][], expected: Buffer[][]): string | null {
  for (let i = 0; i < Math.max(got.length, expected.length); i++) {
    const a = got[i];
    const b = expected[i];
    if (!a || !b || a.length !== b.length || a.some((arg, j) => !arg.equals(b[j]!))) {
      const show = (req?: Buffer[]) => (req ? JSON.stringify(req.map((x) => x.toString('latin1').slice(0, 40))) : 'nothing');
      return `request ${i} of ${expected.length}: got ${show(a)}, expected ${show(b)}`;
    }
  }
  return null;
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32: no short cycles, unlike a float LCG). */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

test('a pipeline of thousands of frames decodes whole in 64 KiB reads, however they split header lines', (t) => {
  const { bytes, expected } = pipeline(10_000, seeded(7));
  const READ = 64 * 1024;
  // Every read a full 64 KiB, starting at offsets that put the cut inside a `*N`, a `$N` or an inline line.
  const headerStarts: number[] = [];
  for (let i = bytes.indexOf('\r\n*'); i !== -1 && headerStarts.length < 10; i = bytes.indexOf('\r\n*', i + READ)) headerStarts.push(i + 3);
  for (let i = bytes.indexOf('\r\n$', 100_000); i !== -1 && headerStarts.length < 20; i = bytes.indexOf('\r\n$', i + READ)) headerStarts.push(i + 3);
  for (let i = bytes.indexOf('ECHO inline'); i !== -1 && headerStarts.length < 30; i = bytes.indexOf('ECHO inline', i + READ)) headerStarts.push(i + 4);
  t.is(headerStarts.length, 30);
  for (const cut of headerStarts) {
    const chunks = [bytes.subarray(0, cut), ...splitEvery(bytes.subarray(cut), READ)];
    for (const [name, got] of [
      ['read in full', decodeChunks(chunks, { recogniseGet: true })],
      ['held back', decodeHoldingBack(chunks, () => 0)],
    ] as const) {
      const diff = firstDifference(upper(got), expected);
      if (diff !== null) return t.fail(`${name}, first read of ${cut} bytes: ${diff}`);
    }
  }
  t.pass();
});

test('a pipeline of thousands of frames decodes whole in reads of random sizes, read in full or held back', (t) => {
  const random = seeded(11);
  const { bytes, expected } = pipeline(10_000, random);
  for (let run = 0; run < 20; run++) {
    const maxRead = [16, 1500, 64 * 1024, 256 * 1024][run % 4]!;
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length;) {
      const size = 1 + Math.floor(random() * maxRead);
      chunks.push(bytes.subarray(i, i + size));
      i += size;
    }
    const got = run % 2 === 0 ? decodeChunks(chunks, { recogniseGet: run % 3 === 0 }) : decodeHoldingBack(chunks, () => Math.floor(random() * 4));
    const diff = firstDifference(upper(got), expected);
    if (diff !== null) return t.fail(`run ${run} (reads up to ${maxRead} bytes): ${diff}`);
  }
  t.pass();
});

test('an MGET of 100 000 keys decodes whole from 64 KiB reads, read in full or held back', (t) => {
  const args = [Buffer.from('MGET'), ...Array.from({ length: 100_000 }, (_, i) => Buffer.from(`key:${i}`))];
  const chunks = splitEvery(multibulk(args), 64 * 1024);
  for (const got of [decodeChunks(chunks), decodeHoldingBack(chunks, () => 0)]) {
    t.is(got.length, 1);
    t.is(firstDifference(got, [args]), null);
  }
});

test('a line longer than 64 KiB is refused however it arrives; one just under it is not', (t) => {
  const MAX_LINE = 64 * 1024;
  const after = Buffer.concat(Array.from({ length: 2000 }, () => multibulk(['GET', 'behind'])));
  const cases: [name: string, line: Buffer, message: string][] = [
    ['inline', Buffer.from(`ECHO ${'a'.repeat(MAX_LINE)}\r\n`), 'Protocol error: too big inline request'],
    ['multibulk count', Buffer.from(`*${'1'.repeat(MAX_LINE + 1)}\r\n`), 'Protocol error: too big mbulk count string'],
    ['bulk count', Buffer.from(`*1\r\n$${'1'.repeat(MAX_LINE + 1)}\r\n`), 'Protocol error: too big bulk count string'],
  ];
  for (const [name, line, message] of cases) {
    const bytes = Buffer.concat([multibulk(['PING']), line, after]);
    for (const size of [bytes.length, 64 * 1024, 1000, 7]) {
      const error = t.throws(() => decodeChunks(splitEvery(bytes, size)), undefined, `${name} in reads of ${size}`);
      t.true(error instanceof ProtocolError && error.message === message, `${name} in reads of ${size}: ${error?.message}`);
    }
  }
  const longest = Buffer.from(`ECHO ${'a'.repeat(MAX_LINE - 7)}\r\n`);
  const bytes = Buffer.concat([longest, after]);
  for (const size of [bytes.length, 64 * 1024, 1000]) {
    const got = decodeChunks(splitEvery(bytes, size));
    t.is(got.length, 2001);
    t.is(got[0]![1]!.length, MAX_LINE - 7);
  }
});

test("until the client authenticates, Redis's limits apply: 10 arguments and 16 KiB per argument; a whole GET takes the same checks", (t) => {
  const frame = (args: (string | Buffer)[]) =>
    Buffer.concat([
      Buffer.from(`*${args.length}\r\n`),
      ...args.flatMap((a) => [Buffer.from(`$${Buffer.byteLength(a)}\r\n`), Buffer.from(a), Buffer.from('\r\n')]),
    ]);
  const unauthenticated = () => {
    const decoder = new RequestDecoder(64 * 1024 * 1024);
    decoder.authenticated = false;
    return decoder;
  };
  // At the limits: AUTH with a long password, HELLO with every option.
  const auth = unauthenticated();
  auth.push(frame(['AUTH', 'default', 'x'.repeat(16 * 1024)]));
  t.deepEqual(
    (auth.next() as Buffer[]).map((b) => b.length),
    [4, 7, 16 * 1024],
  );
  const ten = unauthenticated();
  ten.push(frame(['HELLO', '3', 'AUTH', 'default', 'pw', 'SETNAME', 'n', 'a', 'b', 'c']));
  t.is((ten.next() as Buffer[]).length, 10);
  // Past them: refused from the header alone, before any of the data is buffered.
  const eleven = unauthenticated();
  eleven.push(Buffer.from('*11\r\n'));
  t.throws(() => eleven.next(), { instanceOf: ProtocolError, message: 'Protocol error: unauthenticated multibulk length' });
  const big = unauthenticated();
  big.push(Buffer.from('*2\r\n$3\r\nSET\r\n$16385\r\n'));
  t.throws(() => big.next(), { instanceOf: ProtocolError, message: 'Protocol error: unauthenticated bulk length' });
  const bigGet = unauthenticated();
  bigGet.push(frame(['GET', 'k'.repeat(16 * 1024 + 1)]));
  t.throws(() => bigGet.next(), { instanceOf: ProtocolError, message: 'Protocol error: unauthenticated bulk length' });
  // A GET within the limits is decoded by the general path: an argument list, not the whole-GET key.
  const get = unauthenticated();
  get.push(frame(['GET', 'k']));
  t.deepEqual(get.next(), [Buffer.from('GET'), Buffer.from('k')]);
  // Once authenticated, the usual limits, and GET's whole-frame path, are back.
  const after = unauthenticated();
  after.authenticated = true;
  after.push(Buffer.concat([frame(['GET', 'k'.repeat(16 * 1024 + 1)]), frame(Array.from({ length: 11 }, () => 'a'))]));
  t.is(after.next(), 'k'.repeat(16 * 1024 + 1));
  t.is((after.next() as Buffer[]).length, 11);
});
