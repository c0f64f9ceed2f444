// The kubectl releases installed here: the one on PATH and those beside it
// (kubectl.1.27 … kubectl.1.33), each asked its own version, one per minor.
// Tests run the same kubectl commands with each against the API-server fixture.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Minor version ("1.27") of a kubectl binary, from its own `version --client`. */
function minorOf(bin: string): string | undefined {
  const r = spawnSync(bin, ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
  const v = r.status === 0 ? (JSON.parse(r.stdout).clientVersion ?? {}) : {};
  return v.major && v.minor ? `${v.major}.${String(v.minor).replace(/\D+$/, '')}` : undefined;
}

/** kubectl on PATH and every release installed beside it (kubectl.1.27 …), one per minor version. */
export function kubectls(): { version: string; bin: string }[] {
  const onPath = spawnPath('kubectl');
  if (!onPath) return [];
  const dir = dirname(realpathSync(onPath));
  const found = new Map<string, string>();
  const pathMinor = minorOf(onPath);
  if (pathMinor) found.set(pathMinor, onPath);
  for (const name of readdirSync(dir).filter((n) => /^kubectl\.\d+\.\d+$/.test(n)).sort()) {
    const minor = minorOf(join(dir, name));
    if (minor && !found.has(minor)) found.set(minor, join(dir, name));
  }
  const minors = [...found.keys()].sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
  return minors.map((m) => ({ version: found.get(m) === onPath ? `${m}, PATH` : m, bin: found.get(m)! }));
}

function spawnPath(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(join(d, cmd))) return join(d, cmd);
  return undefined;
}
