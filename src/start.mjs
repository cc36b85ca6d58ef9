// What `npm start` runs: lets any Node from 20 on load the TypeScript sources (tsx compiles each file as it loads), then runs main.ts.
import { register } from 'tsx/esm/api';

// Older Nodes fail later and less clearly (tsx needs module.register, the sources need Node 20's built-ins).
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  process.stderr.write(`redis-cache-proxy: needs Node.js 20 or later, this is ${process.version}\n`);
  process.exit(1);
}

// Registered here, next to the sources, rather than with `node --import tsx`: that resolves tsx from the
// working directory, and the proxy is often started elsewhere (where its .config is).
register();
await import('./main.ts');
