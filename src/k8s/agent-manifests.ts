// The objects `shark tap` creates in a cluster: the agents' namespace
// (labelled for Pod Security `privileged`: hostNetwork and NET_RAW are what
// the agent is), one root per run — the owner of everything else the run
// makes —, the run's lease ConfigMap (renew time), a ServiceAccount without a
// token and the node-agent DaemonSet. The agent never calls the API server,
// so it gets no RBAC at all. Every object carries
// app.kubernetes.io/managed-by=shark; per-run objects also shark.io/run=<id>
// and an owner reference to the root, so deleting the root removes the run.
//
// The root is a keeper Job (issue #14): one unprivileged pod that reads the
// mounted lease and exits 0 once it lapsed. The Job then finishes, the
// TTL-after-finished controller deletes it (`ttlSecondsAfterFinished: 0`) and
// the garbage collector deletes everything it owns: a run whose CLI was
// `kill -9`ed goes away by itself, with no API token anywhere. A run with
// lease 0 (`--dry-run`, applied by hand) has no keeper: its lease ConfigMap
// is the root, as in shark before 0.3, and `tap --clean` finds runs of
// either shape whose lease lapsed.

import { LEASE_DIR, LEASE_KEY, RENEW_KEY } from './lease-file.js';

export type Manifest = Record<string, any>;

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const RUN_LABEL = 'shark.io/run';
export const AGENT_NAME_LABEL = 'app.kubernetes.io/name';
export const AGENT_NAME = 'shark-agent';
export const AGENT_CONTAINER = 'agent';
export const DEFAULT_NAMESPACE = 'shark-system';
export const DEFAULT_IMAGE = 'ghcr.io/shark-cli/shark:0.1.0';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
/** Pod Security Admission: the namespace's enforced level. */
export const PSA_ENFORCE = 'pod-security.kubernetes.io/enforce';
/**
 * On an existing namespace `shark tap` relabelled privileged: the enforce label it had ('' for none),
 * put back by the last run to leave (run-objects.ts restorePodSecurity) or by `tap --clean`.
 */
export const ENFORCE_BEFORE_ANNOTATION = 'shark.io/pod-security-enforce-before';
/**
 * On a namespace a live run created: that run's id. The last run to leave removes such a
 * namespace even when its creator left first (a namespace applied from `--dry-run` has none).
 */
export const CREATED_BY_RUN_ANNOTATION = 'shark.io/created-by-run';
/** On the root ConfigMap: when the CLI last renewed the run's lease (RFC 3339), and for how long it holds. */
export const RENEW_ANNOTATION = 'shark.io/renew-time';
export const LEASE_ANNOTATION = 'shark.io/lease-seconds';
export const DEFAULT_LEASE_SECONDS = 30;
/** The keeper's pod name label and container. */
export const KEEPER_NAME = 'shark-keeper';
/**
 * The keeper Job's backoffLimit: the largest int32. A Job whose pod failed
 * backoffLimit times is Failed, and a Failed Job is deleted by its TTL like a
 * Complete one — with the live run under it. The kubelet's restart back-off
 * caps at 5 minutes, so this is thousands of years of crashes.
 */
export const KEEPER_BACKOFF_LIMIT = 2_147_483_647;
/** An unprivileged uid/gid for the keeper (the image's user is root; `nobody` needs nothing of it). */
export const KEEPER_UID = 65534;

/** Which node taints the agents tolerate: every NoSchedule/NoExecute one, the control plane's only, or none. */
export type TolerationPolicy = 'all' | 'control-plane' | 'none';

export interface AgentManifestOptions {
  runId: string;
  namespace?: string;
  image?: string;
  /** Include the Namespace object (false when it already exists). */
  createNamespace?: boolean;
  tolerate?: TolerationPolicy;
  /** Lease length; 0 = never lapses (objects applied by hand or GitOps: `--clean` leaves them). */
  leaseSeconds?: number;
  /**
   * Root the run with a keeper Job that ends it once the lease lapsed (default:
   * whenever the lease can lapse). false: the lease ConfigMap is the root, as
   * before the keeper (a user who may not create Jobs).
   */
  keeper?: boolean;
  /** Who runs the CLI (user@host pid), recorded on the root for `--clean`'s report. */
  holder?: string;
  /**
   * `tap --service-mesh`: the agents also capture each pod's loopback inside
   * its network namespace, which needs the node's PID namespace (hostPID, to
   * see the pods' processes), CAP_SYS_PTRACE (to read their /proc/PID/ns and
   * /proc/PID/net) and CAP_SYS_ADMIN (setns(2) into the namespace).
   */
  serviceMesh?: boolean;
  /**
   * `tap --tls`: the agents capture TLS plaintext with eBPF uprobes on
   * OpenSSL (`shark agent --tls`). Measured with the real loader (docs/kubernetes.md):
   * hostPID (the loader finds libssl in every process's /proc/PID/maps and
   * attaches through /proc/PID/root), CAP_BPF + CAP_PERFMON (load the programs,
   * open perf events), CAP_SYS_ADMIN (uprobe perf events: refused with EACCES
   * without it on kernel 6.18 even with CAP_PERFMON), CAP_SYS_PTRACE (/proc/PID/*
   * of other users' processes), CAP_SYS_RESOURCE (locked memory for the ring on
   * kernels before 5.11), and the node's BTF and tracefs, mounted read-only;
   * also the node's cgroup tree, read-only, at HOST_CGROUP_PATH: a process that
   * exited before its first TLS event was read is named by its cgroup id
   * (src/tls-capture/process-identity.ts).
   */
  tls?: boolean;
  /** The agents' allowance for the kubelet's delay in refreshing the mounted lease (default 120 s). */
  leaseGraceSeconds?: number;
  /**
   * The keeper's allowance (default: leaseGraceSeconds). `shark tap` adds its
   * API-outage tolerance: an outage stops renewals too, and the keeper must
   * not delete a run whose CLI is only waiting for the API server.
   */
  keeperGraceSeconds?: number;
  /**
   * A PriorityClass the agent pods refer to (it is not created: that is cluster-wide and needs a
   * ClusterRole). None by default: `system-node-critical` is refused outside kube-system where
   * a quota limits it (GKE), and a class that does not exist makes every pod FailedCreate.
   */
  priorityClassName?: string;
  /** The agent container's limits (--agent-cpu, --agent-memory; default AGENT_LIMITS), Kubernetes quantities checked by the CLI. */
  cpuLimit?: string;
  memoryLimit?: string;
}

/**
 * Measured (bench/k8s/agent-resources.ts, one pod-lab node, the capture
 * helper included): idle 132 MB and ~0 CPU; 1,000 calls/s 150 MB and 0.22
 * cores; ~2,700 calls/s 177 MB and 0.32 cores; --workers 2 peaks at 243 MB.
 * Requests cover a quiet node; the limits leave twice the measured peak for
 * bursts and larger bodies. A limit is never below its request (the API
 * server refuses such a pod), so --agent-cpu/--agent-memory refuse one.
 */
export const AGENT_REQUESTS = { cpu: '100m', memory: '192Mi' };
export const AGENT_LIMITS = { cpu: '1', memory: '512Mi' };

/** What `--tls` adds to the agent's capabilities (why: AgentManifestOptions.tls). */
export const TLS_CAPABILITIES = ['BPF', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE', 'SYS_RESOURCE'];
const MESH_CAPABILITIES = ['SYS_ADMIN', 'SYS_PTRACE'];
/** The node's kernel BTF, for CO-RE relocation of the TLS programs. */
export const BTF_PATH = '/sys/kernel/btf';
/** tracefs: libbpf finds the syscall tracepoints' ids there (a container's /sys may not have it mounted). */
export const TRACEFS_PATH = '/sys/kernel/tracing';

/** The node's /sys/fs/cgroup, seen by --tls agents here (the agent's own /sys/fs/cgroup is its cgroup namespace's). */
export const HOST_CGROUP_PATH = '/host/sys/fs/cgroup';

/** NET_RAW always (packet capture), plus what --service-mesh and --tls need, once each, sorted. */
function agentCapabilities(opts: AgentManifestOptions): string[] {
  const add = new Set(['NET_RAW']);
  if (opts.serviceMesh) for (const c of MESH_CAPABILITIES) add.add(c);
  if (opts.tls) for (const c of TLS_CAPABILITIES) add.add(c);
  return [...add].sort();
}

export interface AgentManifests {
  namespace: string;
  daemonSetName: string;
  /** The Namespace (when asked for) then the run's root: created first, deleted last. */
  roots: Manifest[];
  /** The owner of the run's other objects: the keeper Job, or (no keeper) the lease ConfigMap. */
  root: Manifest;
  /** The ConfigMap holding the run's lease (renewed by the CLI, mounted by agents and keeper). */
  lease: Manifest;
  /** The rest, in creation order; each needs `ownedBy(root)` before it is created. */
  owned: Manifest[];
  /** Everything, in creation order (for --dry-run and schema checks). */
  objects: Manifest[];
  /** Labels that select this run's agent pods. */
  agentSelector: Record<string, string>;
}

/** Selector for everything shark created, of any run. */
export const MANAGED_SELECTOR = `${MANAGED_BY}=shark`;

export function runSelector(runId: string): string {
  return `${MANAGED_BY}=shark,${RUN_LABEL}=${runId}`;
}

export function agentManifests(opts: AgentManifestOptions): AgentManifests {
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  const name = `${AGENT_NAME}-${opts.runId}`;
  const labels = { [MANAGED_BY]: 'shark', [RUN_LABEL]: opts.runId };
  const agentSelector = { [AGENT_NAME_LABEL]: AGENT_NAME, [RUN_LABEL]: opts.runId };
  const meta = (n: string) => ({ name: n, namespace, labels: { ...labels, [AGENT_NAME_LABEL]: AGENT_NAME } });

  const roots: Manifest[] = [];
  if (opts.createNamespace !== false) roots.push(agentNamespace(namespace));
  const lease = opts.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  const keeper = (opts.keeper ?? true) && lease > 0;
  const renewed = new Date().toISOString();
  const leaseMap: Manifest = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: runRootName(opts.runId),
      namespace,
      // component=run: what `tap --clean` lists to find runs, with or without a keeper.
      labels: { ...labels, [COMPONENT_LABEL]: 'run' },
      annotations: {
        [LEASE_ANNOTATION]: String(lease),
        ...(lease > 0 ? { [RENEW_ANNOTATION]: renewed } : {}),
        ...(opts.holder ? { 'shark.io/holder': opts.holder } : {}),
      },
    },
    // The lease again as data: the agents read it from this ConfigMap mounted as a volume (no API token).
    data: {
      purpose: keeper
        ? `The lease of one \`shark tap\` run, renewed by its CLI; once it lapses, Job ${keeperName(opts.runId)} ends and the run is deleted.`
        : 'Root of one `shark tap` run: every object of the run is owned by it; deleting it deletes the run.',
      [LEASE_KEY]: String(lease),
      ...(lease > 0 ? { [RENEW_KEY]: renewed } : {}),
    },
  };
  const root = keeper ? keeperJob(opts, namespace, labels) : leaseMap;
  roots.push(root);
  const owned: Manifest[] = keeper ? [leaseMap] : [];
  // No API token: the agent only captures and writes to its exec stream.
  owned.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(name), automountServiceAccountToken: false });
  owned.push({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(name),
    spec: {
      selector: { matchLabels: agentSelector },
      updateStrategy: { type: 'RollingUpdate' },
      template: {
        metadata: { labels: { ...labels, ...agentSelector } },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: false,
          hostNetwork: true,
          ...(opts.serviceMesh || opts.tls ? { hostPID: true } : {}),
          dnsPolicy: 'ClusterFirstWithHostNet',
          terminationGracePeriodSeconds: 5,
          ...(opts.priorityClassName ? { priorityClassName: opts.priorityClassName } : {}),
          // The image is Linux-only; Windows nodes never get an agent.
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          tolerations: tolerations(opts.tolerate ?? 'all'),
          volumes: [
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
            // The run's root, kept current by the kubelet: the agents see the lease lapse when the CLI is gone.
            { name: 'run', configMap: { name: runRootName(opts.runId), optional: true } },
            ...(opts.tls
              ? [
                  { name: 'btf', hostPath: { path: BTF_PATH, type: 'Directory' } },
                  { name: 'tracefs', hostPath: { path: TRACEFS_PATH, type: 'Directory' } },
                  { name: 'cgroup', hostPath: { path: '/sys/fs/cgroup', type: 'Directory' } },
                ]
              : []),
          ],
          containers: [
            {
              name: AGENT_CONTAINER,
              image: opts.image ?? DEFAULT_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              // The container idles; the CLI execs `shark agent …` in it, so
              // the capture streams through the API server and no port opens.
              command: ['shark', 'agent', '--idle', '--lease-dir', LEASE_DIR, ...(opts.leaseGraceSeconds !== undefined ? ['--lease-grace', `${opts.leaseGraceSeconds}s`] : [])],
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'HOME', value: '/tmp' },
                ...(opts.tls ? [{ name: 'SHARK_CGROUP_ROOT', value: HOST_CGROUP_PATH }] : []),
              ],
              // The root filesystem is read-only; oclif and node may write caches under $HOME.
              volumeMounts: [
                { name: 'tmp', mountPath: '/tmp' },
                { name: 'run', mountPath: LEASE_DIR, readOnly: true },
                ...(opts.tls
                  ? [
                      { name: 'btf', mountPath: BTF_PATH, readOnly: true },
                      { name: 'tracefs', mountPath: TRACEFS_PATH, readOnly: true },
                      { name: 'cgroup', mountPath: HOST_CGROUP_PATH, readOnly: true },
                    ]
                  : []),
              ],
              securityContext: {
                privileged: false,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                // root with every capability dropped but NET_RAW: a packet socket
                // (libpcap) needs nothing more; the capability set, not the uid, is the power.
                runAsUser: 0,
                // --service-mesh and --tls add what they need (above).
                capabilities: { drop: ['ALL'], add: agentCapabilities(opts) },
              },
              // Why these amounts: AGENT_REQUESTS. `--workers auto` reads the CPU limit on the node.
              resources: {
                requests: { ...AGENT_REQUESTS },
                limits: { cpu: opts.cpuLimit ?? AGENT_LIMITS.cpu, memory: opts.memoryLimit ?? AGENT_LIMITS.memory },
              },
            },
          ],
        },
      },
    },
  });
  return { namespace, daemonSetName: name, roots, root, lease: leaseMap, owned, objects: [...roots, ...owned], agentSelector };
}

export function keeperName(runId: string): string {
  return `${KEEPER_NAME}-${runId}`;
}

/**
 * The run's keeper: a Job whose one pod waits for the lease to lapse and
 * exits 0 (`shark agent --until-lapse`). It can do nothing else: no token,
 * no capabilities, not root, read-only root filesystem. A crash or a SIGTERM
 * (node drain) exits non-zero, so the pod is restarted or replaced and the
 * Job never finishes while the run lives (restartPolicy OnFailure, backoffLimit
 * the largest int32). Finished, it is deleted at once (ttlSecondsAfterFinished
 * 0), and with it, by the garbage collector, every object it owns.
 */
function keeperJob(opts: AgentManifestOptions, namespace: string, labels: Record<string, string>): Manifest {
  const podLabels = { ...labels, [AGENT_NAME_LABEL]: KEEPER_NAME, [COMPONENT_LABEL]: 'keeper' };
  const keeperGrace = opts.keeperGraceSeconds ?? opts.leaseGraceSeconds;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: keeperName(opts.runId),
      namespace,
      labels: podLabels,
      annotations: { 'shark.io/purpose': 'Root of one `shark tap` run: ends when the run\'s lease lapsed, and the run is deleted with it.' },
    },
    spec: {
      ttlSecondsAfterFinished: 0,
      backoffLimit: KEEPER_BACKOFF_LIMIT,
      completions: 1,
      parallelism: 1,
      template: {
        metadata: { labels: podLabels },
        spec: {
          restartPolicy: 'OnFailure',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 5,
          ...(opts.priorityClassName ? { priorityClassName: opts.priorityClassName } : {}),
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          // Wherever an agent may run, the keeper may too (a cluster of tainted nodes still keeps its runs).
          tolerations: tolerations(opts.tolerate ?? 'all'),
          securityContext: { runAsNonRoot: true, runAsUser: KEEPER_UID, runAsGroup: KEEPER_UID, seccompProfile: { type: 'RuntimeDefault' } },
          volumes: [
            { name: 'tmp', emptyDir: { sizeLimit: '16Mi' } },
            // Not optional: the keeper does not start before the lease exists (the CLI creates it right after the Job).
            { name: 'run', configMap: { name: runRootName(opts.runId) } },
          ],
          containers: [
            {
              name: 'keeper',
              image: opts.image ?? DEFAULT_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['shark', 'agent', '--until-lapse', '--lease-dir', LEASE_DIR, ...(keeperGrace !== undefined ? ['--lease-grace', `${keeperGrace}s`] : [])],
              env: [{ name: 'HOME', value: '/tmp' }],
              volumeMounts: [
                { name: 'tmp', mountPath: '/tmp' },
                { name: 'run', mountPath: LEASE_DIR, readOnly: true },
              ],
              securityContext: {
                privileged: false,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
              },
              resources: {
                requests: { cpu: '5m', memory: '64Mi' }, // measured: 50–60 MB resident (run-expiry.test.ts)
                // Node needs about 0.3 s of CPU to start (`shark agent --help`: 2.3 s wall under a 100m quota, 0.65 s
                // under 500m). Under 100m a keeper deleted while busy did not stop within its 5 s grace (SIGKILL, 137).
                limits: { cpu: '500m', memory: '160Mi' },
              },
            },
          ],
        },
      },
    },
  };
}

/**
 * The agents' namespace: Pod Security `privileged` (baseline refuses hostNetwork and NET_RAW),
 * enforced and warned: a cluster whose default warn level is stricter would otherwise print
 * `Warning: would violate PodSecurity …` for the DaemonSet on every `kubectl apply` of it.
 * The audit level stays the cluster's: the admins' audit log still records what the agents are.
 */
export function agentNamespace(namespace: string): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespace,
      labels: {
        [MANAGED_BY]: 'shark',
        [PSA_ENFORCE]: 'privileged',
        'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/warn': 'privileged',
        'pod-security.kubernetes.io/warn-version': 'latest',
      },
    },
  };
}

export function runRootName(runId: string): string {
  return `shark-run-${runId}`;
}

/**
 * `obj` owned by the run's root (the keeper Job, or the lease ConfigMap):
 * deleting the root (the TTL controller, `--clean`) takes it along.
 * blockOwnerDeletion stays false: true would need `update` on the root's
 * finalizers (OwnerReferencesPermissionEnforcement), one more right to ask for.
 */
export function ownedBy(obj: Manifest, root: Manifest): Manifest {
  return {
    ...obj,
    metadata: {
      ...obj.metadata,
      ownerReferences: [{ apiVersion: root.apiVersion, kind: root.kind, name: root.metadata.name, uid: root.metadata.uid, blockOwnerDeletion: false }],
    },
  };
}

function tolerations(policy: TolerationPolicy): Manifest[] {
  if (policy === 'none') return [];
  if (policy === 'control-plane') {
    return [
      { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'node-role.kubernetes.io/master', operator: 'Exists', effect: 'NoSchedule' },
    ];
  }
  // A capture agent belongs on every node, tainted or not (as kube-proxy and CNI agents do).
  return [
    { operator: 'Exists', effect: 'NoSchedule' },
    { operator: 'Exists', effect: 'NoExecute' },
  ];
}

/** A short random run id: lower-case letters and digits, valid in names and label values. */
export function newRunId(): string {
  return Math.random().toString(36).slice(2, 8).padEnd(6, '0');
}
