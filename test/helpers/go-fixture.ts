// Builds a Go program from test/fixtures/tls-capture/ with Debian's Go (std library only: no
// network). Each program is a module of its own (one main per module), built in `dir`, with the
// Go cache every lab test shares: a cold build of net/http takes a minute on a busy machine.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** test/fixtures/tls-capture/NAME.go built as `dir/NAME/NAME`; returns the binary's path. */
export function buildGoFixture(name: string, dir: string): string {
  const goDir = join(dir, name);
  mkdirSync(goDir, { recursive: true });
  writeFileSync(join(goDir, 'go.mod'), `module ${name}\n\ngo 1.19\n`);
  writeFileSync(join(goDir, 'main.go'), readFileSync(join(repoRoot, 'test', 'fixtures', 'tls-capture', `${name}.go`)));
  const bin = join(goDir, name);
  execFileSync('go', ['build', '-o', bin, '.'], {
    cwd: goDir,
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 300_000,
    env: { ...process.env, HOME: dir, GOCACHE: join(tmpdir(), 'shark-s4e-gocache'), GOPATH: join(dir, 'gopath'), GOPROXY: 'off', GOFLAGS: '-mod=mod' },
  });
  return bin;
}
