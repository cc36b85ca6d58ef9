// Owns running and watching command-line programs from tests and the benchmark: tools, servers, their output.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Whether `name` is on the PATH. */
export const hasCommand = (name: string): boolean => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;

export function requireTool(name: string): void {
  if (!hasCommand(name)) throw new Error(`${name} is not installed: apt-get install redis-tools`);
}

/**
 * Resolves with the first match of `pattern` in what `child` prints (stdout and stderr); rejects if
 * it exits first or nothing matches within `timeoutMs`, with what it printed.
 */
export function waitForOutput(child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 15_000): Promise<RegExpExecArray> {
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs / 1000} s; it printed:\n${output}`)), timeoutMs);
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = pattern.exec(output);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        resolve(m);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with code ${code} before it was ready; it printed:\n${output}`));
    });
  });
}

/** Runs a command with `input` on stdin; resolves with its exit code and output. */
export function run(command: string, args: string[], input = '', timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish in ${timeoutMs} ms; output so far:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    // 'close', not 'exit': at 'exit' the end of the child's output may still be unread in the pipe
    // (a busy machine lost the last third of a 1000-line redis-cli --scan that way).
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A child that exits before its input is written (redis-cli with its command in argv, on a busy machine)
    // makes the write fail with EPIPE; its exit code and output say what happened, so that is no error here.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** Resident memory of process `pid`, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}
