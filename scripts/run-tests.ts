// Runs the ava suite with the TAP reporter and ends with one line "N passed, N failed" for CI to read
// (", N skipped" after it when tests were skipped, as against an external proxy).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const ava = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.js', '--tap', ...process.argv.slice(2)], {
  stdio: ['inherit', 'pipe', 'inherit'],
});

let passed = 0;
let failed = 0;
let skipped = 0;
const lines = createInterface({ input: ava.stdout });
lines.on('line', (line) => {
  process.stdout.write(`${line}\n`);
  if (/^ok \d+/.test(line) && /# SKIP/.test(line)) skipped++;
  else if (/^ok \d+/.test(line)) passed++;
  else if (/^not ok \d+/.test(line) && !/# TODO/.test(line)) failed++;
});

// 'close' comes after the child's output has ended, so every line has been counted.
ava.on('close', (code) => {
  // A crash outside any test (an uncaught error in a file, a timeout) still counts as a failure.
  if (code !== 0 && failed === 0) failed = 1;
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
  process.exit(code ?? 1);
});
