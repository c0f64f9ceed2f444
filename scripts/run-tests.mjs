#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's own test runner (tsx for TypeScript).
// Node 20's --test does not expand globs, so the file list is gathered here.
//
// Two lanes run side by side. The cluster tests (test/k8s/) spend most of their time waiting on
// the API-server fixture's timeouts (agent and handshake timeouts, watch expiry), using a third of
// a core or less; run among the others they hold one of the two slots of the CPU-bound files for
// minutes. So they get a lane of their own, one file at a time, beside the two-file CPU lane. Its
// output is held and printed after the CPU lane's, so neither report is interleaved.
import { readdirSync, statSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

function runner(files, concurrency, stdout) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      // A test that hangs fails after 5 minutes instead of holding CI until its limit.
      ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', '--test-reporter=spec', ...files],
      { stdio: ['ignore', stdout, 'inherit'] },
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : collect('test');
const isWaitingLane = (file) => /(^|[\\/])test[\\/]k8s[\\/]/.test(file);
const cpuFiles = files.filter((file) => !isWaitingLane(file));
const waitingFiles = files.filter(isWaitingLane);

const held = mkdtempSync(join(tmpdir(), 'shark-tests-'));
const heldPath = join(held, 'k8s-lane.txt');
const heldFd = openSync(heldPath, 'w');
// Ctrl-C reaches both runners through the process group; the held report is still printed.
process.on('SIGINT', () => {});

const [cpuStatus, waitingStatus] = await Promise.all([
  cpuFiles.length > 0 ? runner(cpuFiles, 2, 'inherit') : 0,
  waitingFiles.length > 0 ? runner(waitingFiles, 1, heldFd) : 0,
]);
closeSync(heldFd);
if (waitingFiles.length > 0) {
  if (cpuFiles.length > 0) process.stdout.write(`\n# cluster lane (${waitingFiles.length} files in test/k8s, run beside the files above)\n`);
  process.stdout.write(readFileSync(heldPath));
}
rmSync(held, { recursive: true, force: true });
if (cpuFiles.length > 0 && waitingFiles.length > 0) {
  const said = (status, count, lane) => `${lane} lane (${count} files) ${status === 0 ? 'passed' : `failed (exit ${status})`}`;
  process.stdout.write(`\n# ${said(cpuStatus, cpuFiles.length, 'CPU')}; ${said(waitingStatus, waitingFiles.length, 'cluster')}\n`);
}
process.exit(cpuStatus !== 0 ? cpuStatus : waitingStatus);
