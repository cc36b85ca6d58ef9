// Moving accepted sockets onto one reused read buffer, with real sockets; and leaving alone what cannot move.
import net, { type AddressInfo } from 'node:net';
import test from 'ava';
import { adoptWithReusedReadBuffer } from '../../src/server/reused-read-buffer.ts';

test('reads from every adopted connection land in the same buffer; writes, end and close work as usual', async (t) => {
  const reads: { text: string; memory: ArrayBufferLike }[] = [];
  const ended: string[] = [];
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (accepted) => {
    const socket = adoptWithReusedReadBuffer(accepted, true, (bytes) => reads.push({ text: bytes.toString(), memory: bytes.buffer }));
    if (socket === null) return t.fail('this Node should allow it');
    socket.on('end', () => {
      ended.push('end');
      socket.end('bye');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const talk = async (words: string[]) => {
    const client = net.connect(port, '127.0.0.1');
    let received = '';
    client.on('data', (d: Buffer) => (received += d.toString()));
    for (const word of words) {
      client.write(word);
      await new Promise((r) => setTimeout(r, 50));
    }
    client.end();
    await new Promise((r) => client.on('close', r));
    return received;
  };
  t.deepEqual(await Promise.all([talk(['one', 'two']), talk(['three'])]), ['bye', 'bye']);
  t.deepEqual(reads.map((r) => r.text).sort(), ['one', 'three', 'two']);
  t.true(
    reads.every((r) => r.memory === reads[0]!.memory),
    'one buffer for all reads',
  );
  t.deepEqual(ended, ['end', 'end']);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  t.pass('the server closes: the sockets it accepted no longer count');
});

test('a socket with no stream handle is left as it is', (t) => {
  const socket = new net.Socket();
  t.is(
    adoptWithReusedReadBuffer(socket, true, () => t.fail()),
    null,
  );
  t.false(socket.destroyed);
});
