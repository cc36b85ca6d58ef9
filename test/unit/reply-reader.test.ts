// The backend reply reader: every RESP2/RESP3 reply comes out whole and byte-exact, however the bytes are split.
import test from 'ava';
import { parseReply, PushValue, ReplyErrorValue, ReplyReader } from '../../src/resp/reply-reader.ts';

const FRAMES: string[] = [
  '+OK\r\n',
  '-ERR unknown command\r\n',
  ':42\r\n',
  ':-7\r\n',
  '$5\r\nhello\r\n',
  '$0\r\n\r\n',
  '$-1\r\n',
  '$6\r\nfoo\r\nx\r\n',
  '*-1\r\n',
  '*0\r\n',
  '*3\r\n$3\r\nfoo\r\n:1\r\n*2\r\n+a\r\n$-1\r\n',
  '_\r\n',
  ',3.14\r\n',
  ',inf\r\n',
  '#t\r\n',
  '#f\r\n',
  '(3492890328409238509324850943850943825024385\r\n',
  '!21\r\nSYNTAX invalid syntax\r\n',
  '=15\r\ntxt:Some string\r\n',
  '%2\r\n+first\r\n:1\r\n+second\r\n*1\r\n:2\r\n',
  '~3\r\n+a\r\n+b\r\n+c\r\n',
  '>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n',
  '>2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n',
  '>2\r\n$10\r\ninvalidate\r\n_\r\n',
  '|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n:9543892\r\n',
];

function readAll(chunks: Buffer[]): Buffer[] {
  const reader = new ReplyReader();
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let f = reader.next(); f !== null; f = reader.next()) out.push(f);
  }
  return out;
}

test('each frame comes out whole, as sent', (t) => {
  for (const frame of FRAMES) t.deepEqual(readAll([Buffer.from(frame, 'latin1')]).map(String), [frame]);
});

test('a stream of every frame, split in two at every offset, yields the same frames', (t) => {
  const all = Buffer.from(FRAMES.join(''), 'latin1');
  for (let cut = 0; cut <= all.length; cut++) {
    const frames = readAll([all.subarray(0, cut), all.subarray(cut)]);
    t.deepEqual(
      frames.map((f) => f.toString('latin1')),
      FRAMES,
      `cut at ${cut}`,
    );
  }
});

test('byte by byte, and the frames handed out do not change as more bytes arrive', (t) => {
  const all = Buffer.from(FRAMES.join('').repeat(3), 'latin1');
  const reader = new ReplyReader();
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i++) {
    reader.push(all.subarray(i, i + 1));
    for (let f = reader.next(); f !== null; f = reader.next()) out.push(f);
  }
  t.deepEqual(
    out.map((f) => f.toString('latin1')),
    [...FRAMES, ...FRAMES, ...FRAMES],
  );
  t.is(reader.buffered, 0);
});

test('a 4 MiB bulk string and an array of 100 000 items arriving in 16 KiB chunks come out whole', (t) => {
  const big = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  const items = Array.from({ length: 100_000 }, (_, i) => `$${String(i).length}\r\n${i}\r\n`).join('');
  const stream = Buffer.concat([Buffer.from(`$${big.length}\r\n`), big, Buffer.from(`\r\n*100000\r\n${items}+OK\r\n`)]);
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i += 16 * 1024) chunks.push(Buffer.from(stream.subarray(i, i + 16 * 1024)));
  const frames = readAll(chunks);
  t.is(frames.length, 3);
  t.true(frames[0]!.subarray(frames[0]!.indexOf('\n') + 1, -2).equals(big));
  t.is(frames[1]!.toString('latin1'), `*100000\r\n${items}`);
  t.is(frames[2]!.toString(), '+OK\r\n');
});

test('bytes that are not RESP are a protocol error', (t) => {
  const reader = new ReplyReader();
  reader.push(Buffer.from('?what\r\n'));
  t.throws(() => reader.next(), { message: /unexpected reply type '\?'/ });
  const bad = new ReplyReader();
  bad.push(Buffer.from('$x1\r\n'));
  t.throws(() => bad.next(), { message: /bad length/ });
});

test('parseReply reads values: strings as bytes, errors, numbers, nulls, maps flat, pushes marked', (t) => {
  const p = (s: string) => parseReply(Buffer.from(s, 'latin1'));
  t.deepEqual(p('+OK\r\n'), Buffer.from('OK'));
  t.deepEqual(p('-ERR no\r\n'), new ReplyErrorValue('ERR no'));
  t.is(p(':42\r\n'), 42);
  t.is(p('$-1\r\n'), null);
  t.is(p('_\r\n'), null);
  t.is(p(',inf\r\n'), Infinity);
  t.is(p('#f\r\n'), false);
  t.deepEqual(p('=15\r\ntxt:Some string\r\n'), Buffer.from('Some string'));
  t.deepEqual(p('%1\r\n+a\r\n:1\r\n'), [Buffer.from('a'), 1]);
  t.deepEqual(p('>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n'), new PushValue([Buffer.from('invalidate'), [Buffer.from('k')]]));
  t.deepEqual(p('|1\r\n+x\r\n+y\r\n:5\r\n'), 5);
});
