// Runs the TypeScript tests through tsx; e2e files start their own redis-server and proxy, or test the
// running ones that TEST_REDIS_URL, TEST_PROXY_RESP and TEST_PROXY_HTTP name (test/helpers/external.ts).
// Those are shared by every test, their cache and Redis's read counters too: then one test at a time.
const external = ['TEST_REDIS_URL', 'TEST_PROXY_RESP', 'TEST_PROXY_HTTP'].some((name) => process.env[name]);
// The slow fault tests that only `npm run test:faults` (which sets FAULTS_LONG) runs; ava picks files given
// on its command line among these, so they are left out here rather than there.
const faultsOnly = process.env.FAULTS_LONG === '1' ? [] : ['!test/e2e/cluster-faults.test.ts'];

export default {
  files: ['test/**/*.test.ts', ...faultsOnly],
  extensions: ['ts'],
  nodeArguments: ['--import=tsx'],
  timeout: '60s',
  concurrency: 2,
  serial: external,
};
