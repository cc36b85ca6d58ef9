// Tests Redis Cluster's routing facts as the proxy reads them: key slots (hash tags, binary keys), redirections, CLUSTER SLOTS replies.
import test from 'ava';
import { keySlot, parseClusterSlots, redirectOf, slotOfKeys, SLOT_COUNT } from '../../src/backend/cluster/slot-map.ts';
import { parseReply } from '../../src/resp/reply-reader.ts';

test("key slots are Redis's: CRC16 of the key, or of its first non-empty {hash tag}", (t) => {
  // Values from Redis's cluster specification and `redis-cli cluster keyslot`.
  t.is(keySlot('123456789'), 0x31c3 & (SLOT_COUNT - 1));
  t.is(keySlot('foo'), 12182);
  t.is(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));
  t.is(keySlot('{user1000}.following'), keySlot('user1000'));
  // An empty tag is no tag: the whole key is hashed.
  t.is(keySlot('foo{}{bar}'), keySlot(Buffer.from('foo{}{bar}')));
  t.not(keySlot('foo{}{bar}'), keySlot('bar'));
  t.is(keySlot('foo{{bar}}zap'), keySlot('{bar'));
});

test('a latin1 string (the cache form of a binary key) hashes its bytes, not their UTF-8 encoding', (t) => {
  const bytes = Buffer.from([0xff, 0x00, 0xe9, 0x41]);
  t.is(keySlot(bytes.toString('latin1')), keySlot(bytes));
  t.not(keySlot(bytes.toString('latin1')), keySlot(Buffer.from(bytes.toString('latin1'), 'utf8')));
});

test('slotOfKeys: the shared slot, -1 across slots, undefined for none', (t) => {
  t.is(slotOfKeys([]), undefined);
  t.is(slotOfKeys(['{a}1', '{a}2', Buffer.from('{a}3')]), keySlot('a'));
  t.is(slotOfKeys(['a', 'b']), -1);
});

test('redirections: MOVED and ASK with slot and address; anything else is not one', (t) => {
  t.deepEqual(redirectOf('MOVED 3999 127.0.0.1:6381'), { kind: 'moved', slot: 3999, address: '127.0.0.1:6381' });
  t.deepEqual(redirectOf('ASK 1 [::1]:7000'), { kind: 'ask', slot: 1, address: '[::1]:7000' });
  t.deepEqual(redirectOf('MOVED 5 :7002'), { kind: 'moved', slot: 5, address: ':7002' });
  t.is(redirectOf('MOVED 16384 127.0.0.1:1'), undefined);
  t.is(redirectOf('MOVED x 127.0.0.1:1'), undefined);
  t.is(redirectOf('ERR MOVED 1 127.0.0.1:1'), undefined);
  t.is(redirectOf('CLUSTERDOWN The cluster is down'), undefined);
});

test("CLUSTER SLOTS: each range's master by slot; an empty or unknown host is the node asked", (t) => {
  const frame = Buffer.from(
    '*2\r\n' +
      '*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$3\r\nid1\r\n*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$3\r\nid4\r\n' +
      '*3\r\n:5461\r\n:16383\r\n*3\r\n$0\r\n\r\n:7001\r\n$3\r\nid2\r\n',
  );
  const owners = parseClusterSlots(parseReply(frame), '10.0.0.9');
  t.true(Array.isArray(owners));
  const map = owners as (string | undefined)[];
  t.is(map.length, SLOT_COUNT);
  t.is(map[0], '127.0.0.1:7000');
  t.is(map[5460], '127.0.0.1:7000');
  t.is(map[5461], '10.0.0.9:7001');
  t.is(map[16383], '10.0.0.9:7001');
  t.is(
    parseClusterSlots(parseReply(Buffer.from('-ERR This instance has cluster support disabled\r\n')), 'h'),
    'ERR This instance has cluster support disabled',
  );
});
