// The eBPF lab tests (test/tls-capture/*-lab, cluster-tls-pods, tap-tls-pipe)
// take turns: uprobes are global, so two of them at once each see the other's
// TLS traffic and share two loaded cores, and the timing of one call's events
// at its two hooked ends is what they check. A directory is the lock (mkdir is
// atomic); a holder that died without releasing it is noticed by its pid.
import { after, before } from 'node:test';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOCK = join(tmpdir(), 'shark-bpf-tests.lock');

function holderAlive(): boolean {
  try {
    const pid = Number(readFileSync(join(LOCK, 'pid'), 'utf8'));
    if (!pid) return true; // being written right now
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Wait (bounded) for the lock; returns its release. */
export async function bpfTestLock(timeoutMs = 240_000): Promise<() => void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      return () => rmSync(LOCK, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (!holderAlive()) rmSync(LOCK, { recursive: true, force: true });
      else if (Date.now() > until) throw new Error(`another eBPF test held ${LOCK} for ${timeoutMs} ms`);
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** For a test file: hold the lock from its first test to its end (before/after hooks). */
export function takeTurnsWithOtherBpfTests(): void {
  let release: (() => void) | undefined;
  before(async () => {
    release = await bpfTestLock();
  });
  after(() => release?.());
}
