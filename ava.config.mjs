// Runs the TypeScript tests through tsx; e2e files start their own redis-server and proxy.
export default {
  files: ['test/**/*.test.ts'],
  extensions: ['ts'],
  nodeArguments: ['--import=tsx'],
  timeout: '60s',
  concurrency: 2,
};
