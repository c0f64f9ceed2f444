// The life of a run's objects in the cluster, apart from the tap itself:
// making the agents' namespace usable (waiting out a Terminating one,
// labelling it for Pod Security), creating objects while a namespace
// finishes terminating, removing a run's objects within a time budget, and
// `tap --clean`, which removes only runs whose lease lapsed.

import type { Writable } from 'node:stream';
import { ExitCode, UserError } from '../cli/errors.js';
import { CREATED_BY_RUN_ANNOTATION, DEFAULT_LEASE_SECONDS, DEFAULT_NAMESPACE, ENFORCE_BEFORE_ANNOTATION, LEASE_ANNOTATION, MANAGED_BY, PSA_ENFORCE, RENEW_ANNOTATION, RUN_LABEL, agentNamespace, type Manifest } from './agent-manifests.js';
import { ClusterObjects } from './cluster-objects.js';
import { apiErrorText, apiUnreachable, loadKubeConfig, type KubeConfigFlags } from './kubeconfig.js';
import { applyApiTimeouts } from './api-timeouts.js';

/** The agents' namespace as the run found it. */
export interface AgentNamespaceState {
  /** This run created it (and removes it at the end when no run is left in it). */
  created: boolean;
  /**
   * Its Pod Security enforce label when this run could not make it
   * `privileged` ('' for none: the cluster's default level applies);
   * undefined when it is privileged now, or could not be read.
   */
  blockingLabel?: string;
}

/** Pod Security levels that refuse the agent (hostNetwork, NET_RAW); PSA reads an unknown value as restricted. */
function refusesAgents(level: string | undefined): boolean {
  return level !== undefined && level !== 'privileged';
}

/**
 * Make the agents' namespace usable: wait while a previous run's namespace is
 * still Terminating, create it (labelled Pod Security privileged) when
 * missing, or label an existing one — saying so, and noting the label it had
 * so that the last run to leave puts it back —, saying clearly which label
 * blocks the agents when that is not allowed.
 */
export async function prepareNamespace(
  objects: ClusterObjects,
  name: string,
  server: string,
  say: (l: string) => void,
  signal: AbortSignal,
  waitMs: number,
  runId?: string,
): Promise<AgentNamespaceState> {
  const until = Date.now() + Math.max(waitMs, 30_000);
  let told = false;
  for (;;) {
    let ns: Record<string, any> | undefined;
    try {
      ns = await objects.readNamespace(name);
    } catch (e) {
      // A user who may not read the namespace object may still create in it.
      if ((e as { code?: number }).code === 403) return { created: false };
      throw apiUnreachable(server, e, `cannot read namespace ${name}`);
    }
    if (ns?.metadata?.deletionTimestamp) {
      if (!told) say(`tap: namespace ${name} is terminating (a previous run's cleanup); waiting for it to go`);
      told = true;
      if (signal.aborted) return { created: false };
      if (Date.now() > until) throw new UserError(`${server}: namespace ${name} is still terminating; try again later or pass --agent-namespace`, ExitCode.CAPTURE);
      await sleep(500);
      continue;
    }
    if (!ns) {
      try {
        const manifest = agentNamespace(name);
        if (runId) manifest.metadata.annotations = { ...manifest.metadata.annotations, [CREATED_BY_RUN_ANNOTATION]: runId };
        await objects.create(manifest);
        return { created: true };
      } catch (e) {
        if ((e as { code?: number }).code === 409) continue; // another run created it just now
        throw new UserError(`${server}: cannot create namespace ${name}: ${apiErrorText(e)}; create it (labelled ${PSA_ENFORCE}=privileged) or pass --agent-namespace`, ExitCode.CAPTURE);
      }
    }
    const before: string | undefined = ns.metadata?.labels?.[PSA_ENFORCE];
    if (before === 'privileged') return { created: false };
    try {
      // A run before this one that relabelled it (and is still there, or was killed) noted the original already.
      const noted = ns.metadata?.annotations?.[ENFORCE_BEFORE_ANNOTATION] !== undefined;
      await objects.labelPrivileged(name, noted ? undefined : (before ?? ''));
      if (refusesAgents(before)) {
        say(
          `tap: namespace ${name} was labelled ${PSA_ENFORCE}=${before}, which refuses the agents (hostNetwork, NET_RAW); relabelled it privileged for this run (the last run to leave puts ${before} back)`,
        );
      }
      return { created: false };
    } catch (e) {
      if (refusesAgents(before)) {
        say(
          `tap: namespace ${name} is labelled ${PSA_ENFORCE}=${before}, which refuses the agents (hostNetwork, NET_RAW), and it cannot be relabelled (${apiErrorText(e)}); ask an admin: kubectl label namespace ${name} ${PSA_ENFORCE}=privileged --overwrite, or pass --agent-namespace a namespace that allows privileged pods`,
        );
      } else {
        say(
          `tap: cannot label namespace ${name} ${PSA_ENFORCE}=privileged (${apiErrorText(e)}); it has no ${PSA_ENFORCE} label, so the cluster's default Pod Security level applies; if it refuses the agents, ask an admin: kubectl label namespace ${name} ${PSA_ENFORCE}=privileged`,
        );
      }
      return { created: false, blockingLabel: before ?? '' };
    }
  }
}

/**
 * Put back the Pod Security label a run replaced (ENFORCE_BEFORE_ANNOTATION),
 * once no run is left in the namespace. Returns the line to say, if any.
 */
export async function restorePodSecurity(objects: ClusterObjects, name: string): Promise<string | undefined> {
  const ns = await objects.readNamespace(name);
  const before: string | undefined = ns?.metadata?.annotations?.[ENFORCE_BEFORE_ANNOTATION];
  if (!ns || before === undefined || ns.metadata?.deletionTimestamp) return undefined;
  if ((await objects.runRoots(name)).length > 0) return undefined;
  await objects.restoreEnforce(name, before || undefined);
  return before ? `tap: put back namespace ${name}'s label ${PSA_ENFORCE}=${before}` : `tap: removed the ${PSA_ENFORCE} label shark put on namespace ${name}`;
}

/**
 * The namespace an object was to be created in is gone: deleted after the run
 * looked at it (the cleanup of another run that created it, which had not seen
 * this run yet). The caller makes the namespace again and starts over.
 */
export class NamespaceGone extends Error {}

/**
 * The run leaves the agents' namespace (its own objects are removed): the
 * namespace goes when a live run created it — this one, or one that left
 * first (CREATED_BY_RUN_ANNOTATION) — and no run's root is left in it;
 * otherwise the Pod Security label a run replaced is put back. Returns the
 * line to say, if any, and whether the namespace was removed.
 */
export async function leaveNamespace(objects: ClusterObjects, name: string, createdHere: boolean): Promise<{ line?: string; removed: boolean }> {
  const ns = await objects.readNamespace(name);
  if (!ns || ns.metadata?.deletionTimestamp) return { removed: false };
  const creator: string | undefined = ns.metadata?.annotations?.[CREATED_BY_RUN_ANNOTATION];
  // A namespace no live run created (the user's own, or applied from --dry-run) is never removed.
  if (!createdHere && !creator) return { removed: false, line: await restorePodSecurity(objects, name) };
  if ((await objects.runRoots(name)).length > 0) {
    return { removed: false, line: createdHere ? `tap: namespace ${name} stays: another run uses it (the last run to leave removes it)` : undefined };
  }
  await objects.remove('Namespace', name);
  return { removed: true, line: createdHere ? undefined : `tap: removed namespace ${name} (created by run ${creator}, which left first)` };
}

/** Create one object; while its namespace is still terminating (403 NamespaceTerminating), wait and retry. */
export async function createOne(objects: ClusterObjects, obj: Manifest, server: string, say: (l: string) => void, signal: AbortSignal): Promise<Record<string, any>> {
  const until = Date.now() + 60_000;
  let told = false;
  for (;;) {
    try {
      return await objects.create(obj);
    } catch (e) {
      if (isNamespaceTerminating(e) && Date.now() < until && !signal.aborted) {
        if (!told) say(`tap: namespace ${obj.metadata.namespace} is terminating; waiting to create ${obj.kind} ${obj.metadata.name}`);
        told = true;
        await sleep(500);
        continue;
      }
      if (isNamespaceMissing(e, obj.metadata.namespace)) throw new NamespaceGone(`namespace ${obj.metadata.namespace} was removed`);
      throw new UserError(`${server}: cannot create ${obj.kind} ${obj.metadata.name}: ${apiErrorText(e)}`, ExitCode.CAPTURE);
    }
  }
}

function isNamespaceTerminating(e: unknown): boolean {
  const err = e as { code?: number; body?: unknown };
  if (err?.code !== 403) return false;
  const text = typeof err.body === 'string' ? err.body : JSON.stringify(err.body ?? '');
  return text.includes('NamespaceTerminating') || text.includes('being terminated');
}

/** A create refused because its namespace does not exist: 404 whose Status names the namespace, not the object. */
function isNamespaceMissing(e: unknown, namespace: string | undefined): boolean {
  const err = e as { code?: number; body?: unknown };
  if (err?.code !== 404 || !namespace) return false;
  let status = err.body as { details?: { kind?: string; name?: string } } | undefined;
  if (typeof err.body === 'string') {
    try {
      status = JSON.parse(err.body);
    } catch {
      return false;
    }
  }
  return status?.details?.kind === 'namespaces' && status.details.name === namespace;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** What a run could not remove, and why (one line of the API server's, or "timeout"). */
export interface RemovalFailure {
  what: string;
  why: string;
}

/** Delete in reverse creation order, giving up after `timeoutMs` in total. */
export async function removeCreated(objects: ClusterObjects, created: Manifest[], timeoutMs: number): Promise<{ done: number; failed: RemovalFailure[] }> {
  let done = 0;
  const failed: RemovalFailure[] = [];
  const deadline = Date.now() + timeoutMs;
  for (const obj of [...created].reverse()) {
    const left = deadline - Date.now();
    const what = `${obj.kind}/${obj.metadata.name}`;
    if (left <= 0) {
      failed.push({ what, why: 'no time left' });
      continue;
    }
    try {
      await withTimeout(objects.remove(obj.kind, obj.metadata.name, obj.metadata.namespace), left);
      done++;
    } catch (e) {
      failed.push({ what, why: apiErrorText(e) });
    }
  }
  return { done, failed };
}

/**
 * Reasons that differ only in the names they quote are one reason: `daemonsets
 * "x" is forbidden: … resource "daemonsets"` and `jobs "y" is forbidden: …
 * resource "jobs"` alike. The quoted parts go, and the word before each.
 */
function reasonKey(why: string): string {
  const outside = why.split('"').filter((_, i) => i % 2 === 0);
  return outside
    .map((text, i) => {
      if (i === outside.length - 1) return text;
      const t = text.trimEnd();
      return t.slice(0, t.lastIndexOf(' ') + 1);
    })
    .join('""');
}

/**
 * One line for what a run left behind, with what will remove it: the same
 * reason is said once (an expired token or a missing right refuses every
 * delete alike, and naming it per object made a line of a screen); a run
 * rooted on its keeper Job goes by itself once the lease lapses; a user who
 * may not delete needs someone who may.
 */
export function leftBehindLine(failed: RemovalFailure[], o: { namespace: string; keeperJob?: string; keeperSeconds: number; leaseSeconds: number }): string {
  const groups = new Map<string, { why: string; what: string[] }>();
  for (const f of failed) {
    const key = reasonKey(f.why);
    const g = groups.get(key) ?? { why: f.why, what: [] };
    g.what.push(f.what);
    groups.set(key, g);
  }
  const parts = [...groups.values()].map((g) => `${g.what.join(', ')} (${g.why}${g.what.length > 1 ? ', and alike for each' : ''})`);
  const forbidden = failed.some((f) => /\bHTTP 403\b/.test(f.why));
  const unauthorized = failed.some((f) => /\bHTTP 401\b/.test(f.why));
  // The keeper removes the run's objects (all owned by it), not the namespace nor its label.
  const runObjectsOnly = failed.every((f) => !f.what.startsWith('Namespace/') && !f.what.startsWith('the '));
  const then = o.keeperJob && runObjectsOnly
    ? `its keeper Job ${o.namespace}/${o.keeperJob} removes them once the run's lease lapses (within about ${Math.ceil(o.keeperSeconds / 60)} min)`
    : forbidden
      ? `ask someone who may delete in ${o.namespace} to run \`shark tap --clean --agent-namespace ${o.namespace}\` once the lease (${o.leaseSeconds}s) has lapsed`
      : `run \`shark tap --clean${o.namespace === DEFAULT_NAMESPACE ? '' : ` --agent-namespace ${o.namespace}`}\` once the lease (${o.leaseSeconds}s) has lapsed${unauthorized ? ', after logging in again' : ''}`;
  return `tap: could not remove ${parts.join('; ')}; ${then}`;
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export interface CleanOptions extends KubeConfigFlags {
  agentNamespace?: string;
  now?: Date;
  /** kubectl's --request-timeout (default 30 s; 0 = none). */
  requestTimeoutMs?: number;
}

/**
 * `shark tap --clean`: remove the runs in the agents' namespace whose CLI is
 * gone (lease lapsed: renew time + lease older than now), and objects whose
 * run has no root left. Live runs — another terminal's tap — are kept. The
 * namespace goes too when shark created it and no run is left in it.
 */
export async function cleanCluster(opts: CleanOptions, stderr: Writable = process.stderr): Promise<number> {
  const cfg = loadKubeConfig(opts);
  applyApiTimeouts(cfg.kc, { requestMs: opts.requestTimeoutMs });
  const namespace = opts.agentNamespace ?? DEFAULT_NAMESPACE;
  const objects = new ClusterObjects(cfg.kc);
  const now = (opts.now ?? new Date()).getTime();
  let removed = 0;
  try {
    // Shark before 0.2 gave agents a ClusterRole and binding; remove those leftovers when allowed.
    for (const r of await objects.legacyRbac()) {
      stderr.write(`tap: removed ${r} (left by an older shark)\n`);
      removed++;
    }
    // A Role in the agents' namespace often grants its objects but not the Namespace itself:
    // the runs are cleaned all the same, only the namespace's own fate is left undecided.
    let ns: Record<string, any> | undefined;
    let nsHidden = false;
    try {
      ns = await objects.readNamespace(namespace);
    } catch (e) {
      if ((e as { code?: number }).code !== 403) throw e;
      nsHidden = true;
      stderr.write(`tap: cannot read namespace ${namespace} (${apiErrorText(e)}); cleaning the runs in it all the same, the namespace itself is left as it is\n`);
    }
    if (!ns && !nsHidden) {
      stderr.write(`tap: namespace ${namespace} does not exist: nothing else to clean\n`);
      stderr.write(`tap: ${removed} leftover object(s) removed\n`);
      return removed;
    }
    const roots = await objects.runRoots(namespace);
    const alive = new Set<string>();
    for (const root of roots) {
      const run = root.metadata?.labels?.[RUN_LABEL] ?? '';
      const lease = Number(root.metadata?.annotations?.[LEASE_ANNOTATION] ?? DEFAULT_LEASE_SECONDS);
      const renewed = Date.parse(root.metadata?.annotations?.[RENEW_ANNOTATION] ?? '');
      const holder = root.metadata?.annotations?.['shark.io/holder'] ?? 'unknown';
      if (lease === 0) {
        alive.add(run);
        stderr.write(`tap: run ${run} has no lease (applied by hand or GitOps): kept\n`);
        continue;
      }
      const age = Number.isNaN(renewed) ? Infinity : (now - renewed) / 1000;
      if (age <= lease) {
        alive.add(run);
        stderr.write(`tap: run ${run} is alive (${holder}, renewed ${Math.round(age)}s ago): kept\n`);
        continue;
      }
      for (const r of await objects.removeRun(namespace, run)) {
        stderr.write(`tap: removed ${r} (run ${run}, lease lapsed)\n`);
        removed++;
      }
    }
    // Objects whose run has no root (it was deleted, or a CLI died between creations).
    for (const { kind, obj } of await objects.managed(namespace)) {
      const run = obj.metadata?.labels?.[RUN_LABEL];
      if (!run || alive.has(run)) continue;
      await objects.remove(kind, obj.metadata.name, namespace);
      stderr.write(`tap: removed ${kind}/${namespace}/${obj.metadata.name} (run ${run} has no root)\n`);
      removed++;
    }
    // A namespace that could not be read (above) is neither removed nor relabelled.
    if (ns && alive.size === 0 && ns.metadata?.labels?.[MANAGED_BY] === 'shark' && !ns.metadata?.deletionTimestamp) {
      await objects.remove('Namespace', namespace);
      stderr.write(`tap: removed Namespace/${namespace}\n`);
      removed++;
    } else if (ns && alive.size === 0) {
      // A run killed in a namespace it relabelled privileged: the label it replaced goes back.
      const line = await restorePodSecurity(objects, namespace);
      if (line) stderr.write(`${line}\n`);
    }
  } catch (e) {
    throw apiUnreachable(cfg.server, e, 'cannot clean up');
  }
  stderr.write(`tap: ${removed} leftover object(s) removed\n`);
  return removed;
}
