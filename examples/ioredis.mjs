// Reads through the proxy with ioredis: `node examples/ioredis.mjs` once the quick start runs (RESP_PORT if it is not 6380).
import { Redis } from 'ioredis';

const redis = new Redis({ port: Number(process.env.RESP_PORT ?? 6380) }); // ioredis 6 opens with HELLO 3: answered properly
console.log(await redis.get('Batman')); // Superhero
await redis.quit(); // without it the connection stays open, and so does node
