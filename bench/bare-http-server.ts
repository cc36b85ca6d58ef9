// The Node HTTP ceiling for the benchmark: the least a node:http server can do per request.
import http from 'node:http';

const body = Buffer.alloc(100, 0x61);
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as { port: number }).port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
