// The real agent image for tests: built from the repo's Dockerfile by
// scripts/image/build.sh (bases from Debian packages and the npm registry),
// reused when nothing it is made from changed. install.sh builds it ahead
// when podman is installed, so a test run usually finds it at once.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** Why container tests cannot run here, or undefined when they can. */
export function podmanMissing(): string | undefined {
  const r = spawnSync('podman', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'podman is not installed (apt-get install podman buildah mmdebstrap runc; see .ci/packages.txt)';
}

/** The image's name (localhost/shark-agent:<hash>-<arch>), building it if needed. */
export function agentImage(): string {
  const r = spawnSync('bash', [join(repoRoot, 'scripts', 'image', 'build.sh')], { encoding: 'utf8', timeout: 20 * 60_000 });
  if (r.status !== 0) throw new Error(`scripts/image/build.sh failed (exit ${r.status ?? r.signal}): ${r.stderr.split('\n').filter((l) => !/CNI config/.test(l)).slice(-15).join('\n')}`);
  return r.stdout.trim().split('\n').at(-1)!;
}
