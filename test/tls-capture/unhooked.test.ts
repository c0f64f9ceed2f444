// TLS compiled into a program, which `tap --tls` cannot see (Java's JSSE,
// BoringSSL in Envoy or Chrome, rustls), is named once per process with a
// socket: on a /proc tree written here (the JVM in a map, executables
// carrying each library's marks, no socket yet, a pid used again, a process
// outside the tapped pods), and on this machine's /proc with a real JVM
// listening on loopback.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledInTls, watchUnhookedTls, type UnhookedProcess } from '../../src/tls-capture/unhooked.js';
import { tlsSummary, type TlsTapResult } from '../../src/tls-capture/tap.js';
import { until } from '../helpers/until.js';

const root = mkdtempSync(join(tmpdir(), 'shark-unhooked-'));
after(() => rmSync(root, { recursive: true, force: true }));
const proc = join(root, 'proc');
const bin = join(root, 'bin');
mkdirSync(bin);

/** An executable-like file: filler with `marks` at the offsets given. */
function exe(name: string, marks: Array<[number, string]>, size = 1 << 16): string {
  const b = Buffer.alloc(size, 0x90);
  for (const [at, text] of marks) b.write(text, at, 'latin1');
  const path = join(bin, name);
  writeFileSync(path, b);
  return path;
}

function fakeProcess(pid: number, comm: string, exePath: string, opts: { libs?: string[]; socket?: boolean; start?: number; pod?: string } = {}): void {
  const dir = join(proc, String(pid));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'fd'), { recursive: true });
  writeFileSync(join(dir, 'comm'), `${comm}\n`);
  writeFileSync(join(dir, 'stat'), `${pid} (${comm} x) S 1${' 0'.repeat(17)} ${opts.start ?? 100} 0\n`);
  writeFileSync(join(dir, 'cgroup'), opts.pod ? `0::/kubepods.slice/kubepods-pod${opts.pod.replace(/-/g, '_')}.slice/cri-containerd-${'a'.repeat(64)}.scope\n` : '0::/user.slice\n');
  const maps = [exePath, '/usr/lib/x86_64-linux-gnu/libc.so.6', ...(opts.libs ?? [])].map((p, i) => `7f00000${i}000-7f00000${i + 1}000 r-xp 00000000 08:01 ${1000 + i}   ${p}`);
  writeFileSync(join(dir, 'maps'), `${[...maps, '7ffd0000-7ffd1000 rw-p 00000000 00:00 0   [stack]'].join('\n')}\n`);
  symlinkSync(exePath, join(dir, 'exe'));
  symlinkSync('/dev/null', join(dir, 'fd', '0'));
  if (opts.socket !== false) symlinkSync('socket:[4242]', join(dir, 'fd', '3'));
}

test('an executable is known by the marks its TLS library leaves; one exporting SSL_write is left to the loader', async () => {
  assert.equal(await compiledInTls(exe('envoy', [[5000, 'BoringSSL\0']])), 'BoringSSL (compiled in)');
  assert.equal(await compiledInTls(exe('rusty', [[7000, '/root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/rustls-0.21.12/src/conn.rs']])), 'rustls (compiled in)');
  assert.equal(await compiledInTls(exe('envoy-symbols', [[5000, 'BoringSSL\0'], [9000, '\0SSL_write\0']])), undefined, 'hooked by the loader through its symbols');
  assert.equal(await compiledInTls(exe('plain', [[100, 'OpenSSL 3.0.19\0']])), undefined);
  // A mark cut by the 4 MB chunks is found all the same.
  assert.equal(await compiledInTls(exe('straddle', [[(4 << 20) - 4, 'BoringSSL\0']], 6 << 20)), 'BoringSSL (compiled in)');
  // Past the bound read, nothing is found (a bound, not a guess).
  assert.equal(await compiledInTls(join(bin, 'straddle'), 1 << 20), undefined);
});

test('the watch says each process once; one with no socket yet is said when it opens one; a reused pid is another process; other pods are not read', async () => {
  fakeProcess(201, 'envoy', exe('envoy', [[5000, 'BoringSSL\0']]), { socket: false });
  fakeProcess(202, 'java', exe('java', []), { libs: ['/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so'], pod: '1234abcd-5678-90ab-cdef-1234567890ab' });
  fakeProcess(203, 'curl', exe('curl', [[10, '\0SSL_write\0']]));
  fakeProcess(204, 'rusty', exe('rusty', [[7000, '/rustls-0.23.4/src/lib.rs']]), { pod: 'ffffffff-0000-0000-0000-000000000000' });
  const said: UnhookedProcess[] = [];
  const w = watchUnhookedTls((p) => said.push(p), { intervalMs: 60_000, proc, wanted: (id) => id.podUid !== 'ffffffff-0000-0000-0000-000000000000' });
  try {
    await w.scan();
    assert.deepEqual(said.map((p) => [p.pid, p.comm, p.library]), [[202, 'java', 'Java (JSSE, inside the JVM)']]);
    assert.equal(said[0].identity.podUid, '1234abcd-5678-90ab-cdef-1234567890ab');
    await w.scan();
    assert.equal(said.length, 1, 'not said again');
    symlinkSync('socket:[77]', join(proc, '201', 'fd', '5'));
    await w.scan();
    assert.deepEqual(said.map((p) => [p.pid, p.library, p.exe]), [[202, 'Java (JSSE, inside the JVM)', join(bin, 'java')], [201, 'BoringSSL (compiled in)', join(bin, 'envoy')]]);
    fakeProcess(202, 'java', join(bin, 'java'), { libs: ['/usr/lib/jvm/lib/server/libjvm.so'], start: 999 });
    await w.scan();
    assert.deepEqual(said.map((p) => p.pid), [202, 201, 202], 'pid 202 again, started later: another process');
  } finally {
    w.stop();
  }
});

test('the summary line counts the processes by library', () => {
  const r: TlsTapResult = { entries: 0, filtered: 0, events: 0, otherPods: 0, table: { connections: 0, shared: 0, bothEnds: 0, gaps: 0, gapBytes: 0, gapsBothEnds: 0, stale: 0, staleBytes: 0, notInet: 0, noAddress: 0, noAddressBytes: 0, evicted: 0, afterClose: 0 }, unhooked: { 'BoringSSL (compiled in)': 2, 'Java (JSSE, inside the JVM)': 1 } };
  assert.match(tlsSummary(r), /3 processes whose TLS --tls cannot see \(BoringSSL \(compiled in\): 2, Java \(JSSE, inside the JVM\): 1\)/);
});

test('a real JVM listening on loopback is found in this machine /proc', async () => {
  const src = join(root, 'Listen.java');
  writeFileSync(src, 'public class Listen { public static void main(String[] a) throws Exception { var s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()); System.out.println("up"); Thread.sleep(30000); } }\n');
  const child = spawn('java', [src], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`java exited ${code}`)));
    });
    const said: UnhookedProcess[] = [];
    const w = watchUnhookedTls((p) => said.push(p), { intervalMs: 200 });
    try {
      const p = await until(() => said.find((x) => x.pid === child.pid), 'the JVM to be found', 10_000);
      assert.equal(p.library, 'Java (JSSE, inside the JVM)');
      assert.match(p.exe ?? '', /\/java$/);
    } finally {
      w.stop();
    }
  } finally {
    child.kill();
  }
});
