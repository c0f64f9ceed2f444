// List+watch of the objects that name traffic (Pods, Services, EndpointSlices,
// Nodes) and of the agents' own (their DaemonSet and Events), kept in memory
// and viewed as a ClusterSnapshot. Each kind has a reflector per namespace it
// is scoped to (or one for the whole cluster): list in pages, then watch from
// the list's resourceVersion (with bookmarks); a watch that ends is resumed
// from the last version seen; "410 Gone" (version too old) triggers a fresh
// list whose differences are reported as events. When the API server cannot
// be reached for `giveUpMs`, onFatal is called once.

import { AppsV1Api, CoreV1Api, DiscoveryV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { ClusterSnapshot } from '../model/cluster.js';
import { endpointSliceInfo, nodeInfo, podInfo, serviceInfo } from './objects.js';
import { trimObject } from './trim.js';

type Obj = Record<string, any>;
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type Kind = 'pods' | 'services' | 'endpointslices' | 'nodes' | 'daemonsets' | 'events';

interface Page {
  items: Obj[];
  metadata?: { resourceVersion?: string; _continue?: string };
}
/** One page of a list: in a namespace, or the whole cluster when `namespace` is undefined. */
type Lister = (kc: KubeConfig, namespace: string | undefined, page: { limit: number; _continue?: string }) => Promise<Page>;

interface KindSpec {
  group: string;
  list: Lister;
}

const KINDS: Record<Kind, KindSpec> = {
  pods: {
    group: '/api/v1',
    list: (kc, namespace, page) =>
      namespace ? kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, ...page }) : kc.makeApiClient(CoreV1Api).listPodForAllNamespaces(page),
  },
  services: {
    group: '/api/v1',
    list: (kc, namespace, page) =>
      namespace ? kc.makeApiClient(CoreV1Api).listNamespacedService({ namespace, ...page }) : kc.makeApiClient(CoreV1Api).listServiceForAllNamespaces(page),
  },
  nodes: { group: '/api/v1', list: (kc, _ns, page) => kc.makeApiClient(CoreV1Api).listNode(page) },
  endpointslices: {
    group: '/apis/discovery.k8s.io/v1',
    list: (kc, namespace, page) =>
      namespace
        ? kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace, ...page })
        : kc.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces(page),
  },
  daemonsets: {
    group: '/apis/apps/v1',
    list: (kc, namespace, page) =>
      namespace ? kc.makeApiClient(AppsV1Api).listNamespacedDaemonSet({ namespace, ...page }) : kc.makeApiClient(AppsV1Api).listDaemonSetForAllNamespaces(page),
  },
  events: {
    group: '/api/v1',
    list: (kc, namespace, page) =>
      namespace ? kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace, ...page }) : kc.makeApiClient(CoreV1Api).listEventForAllNamespaces(page),
  },
};

/** Items per list page: a cluster of 5,000 pods is 10 requests, not one 50 MB answer. */
export const LIST_PAGE_SIZE = 500;

export interface ClusterWatchOptions {
  /** Kinds to keep (default: pods, services, endpointslices, nodes). */
  kinds?: Kind[];
  /**
   * Namespaces each kind is watched in; a kind not named here is watched
   * cluster-wide (which needs a ClusterRole). `shark tap -n NS` watches only NS.
   */
  scopes?: Partial<Record<Kind, string[]>>;
  /** Items per list page (default LIST_PAGE_SIZE). */
  pageSize?: number;
  /** kubeconfig context name, recorded in snapshots. */
  context?: string;
  /** Called for every change after the initial list (and for relist differences). */
  onEvent?: (kind: Kind, type: WatchEventType, obj: Obj) => void;
  /** The API server stayed unreachable: the run cannot go on. */
  onFatal?: (err: unknown) => void;
  /** How long to keep retrying an unreachable API server (default 4 s). */
  giveUpMs?: number;
  /** The API server stopped answering (`false`, with the error) or answers again (`true`). */
  onReachability?: (reachable: boolean, err?: unknown) => void;
}

class Reflector {
  readonly items = new Map<string, Obj>();
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private stopped = false;
  private failingSince = 0;

  constructor(
    readonly kind: Kind,
    private readonly namespace: string | undefined,
    private readonly kc: KubeConfig,
    private readonly opts: ClusterWatchOptions,
    private readonly changed: () => void,
    private readonly reachability: (r: Reflector, failing: boolean, err?: unknown) => void = () => {},
  ) {}

  get failing(): boolean {
    return this.failingSince > 0;
  }

  /** The namespace listed; undefined for a cluster-wide list. */
  get listNamespace(): string | undefined {
    return this.namespace;
  }

  /** What this reflector reads, for error messages: "pods in namespace data" / "pods in every namespace". */
  get scope(): string {
    return `${this.kind} ${this.namespace ? `in namespace ${this.namespace}` : this.kind === 'nodes' ? '(cluster-wide)' : 'in every namespace'}`;
  }

  private get watchPath(): string {
    const group = KINDS[this.kind].group;
    return this.namespace ? `${group}/namespaces/${this.namespace}/${this.kind}` : `${group}/${this.kind}`;
  }

  /** Every page of a list; the resourceVersion is the first page's (the list is one snapshot). */
  private async listAll(): Promise<{ items: Obj[]; resourceVersion: string }> {
    const items: Obj[] = [];
    let resourceVersion = '';
    let cont: string | undefined;
    do {
      const page = await KINDS[this.kind].list(this.kc, this.namespace, { limit: this.opts.pageSize ?? LIST_PAGE_SIZE, _continue: cont });
      // Trimmed page by page: a page's full objects are garbage as soon as the next is read.
      for (const o of page.items) items.push(trimObject(this.kind, o as Obj));
      resourceVersion ||= page.metadata?.resourceVersion ?? '';
      cont = page.metadata?._continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }

  /** Initial list: errors propagate to the caller (the run has not started yet). */
  async start(): Promise<void> {
    await this.relist(false);
    void this.watch();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private async relist(report: boolean): Promise<void> {
    const list = await this.listAll();
    const fresh = new Map<string, Obj>();
    for (const o of list.items) fresh.set(keyOf(o), o);
    if (report) {
      for (const [k, o] of this.items) if (!fresh.has(k)) this.opts.onEvent?.(this.kind, 'DELETED', o);
      for (const [k, o] of fresh) {
        const old = this.items.get(k);
        if (!old) this.opts.onEvent?.(this.kind, 'ADDED', o);
        else if (old.metadata?.resourceVersion !== o.metadata?.resourceVersion) this.opts.onEvent?.(this.kind, 'MODIFIED', o);
      }
    }
    this.items.clear();
    for (const [k, o] of fresh) this.items.set(k, o);
    this.resourceVersion = list.resourceVersion;
    this.changed();
  }

  private async watch(): Promise<void> {
    while (!this.stopped) {
      const began = Date.now();
      const ended = await this.watchOnce();
      if (this.stopped) return;
      // A watch that ends at once (a proxy closing it, say) must not become a busy loop.
      if (Date.now() - began < 1000) await sleep(250);
      try {
        if (ended === 'gone' || ended === 'error') await this.relist(true);
        if (this.failingSince) {
          this.failingSince = 0;
          this.reachability(this, false);
        }
      } catch (err) {
        if (this.stopped) return;
        if (!this.failingSince) {
          this.failingSince = Date.now();
          this.reachability(this, true, err);
        }
        const down = Date.now() - this.failingSince;
        if (down > (this.opts.giveUpMs ?? 4000)) {
          this.stopped = true;
          this.opts.onFatal?.(err);
          return;
        }
        // Back off while it is down (an outage can last minutes: a control-plane upgrade).
        await sleep(Math.min(250 + down / 10, 2000));
      }
    }
  }

  /** One watch request; resolves with why it ended. */
  private watchOnce(): Promise<'closed' | 'gone' | 'error'> {
    return new Promise((resolve) => {
      let gone = false;
      const onEvent = (type: string, raw: Obj) => {
        const obj = type === 'ERROR' || type === 'BOOKMARK' ? raw : trimObject(this.kind, raw);
        if (type === 'ERROR') {
          if (obj?.code === 410) gone = true;
          this.abort?.abort();
          return;
        }
        if (type === 'BOOKMARK') {
          this.resourceVersion = obj?.metadata?.resourceVersion ?? this.resourceVersion;
          return;
        }
        if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
        const key = keyOf(obj);
        if (type === 'DELETED') this.items.delete(key);
        else this.items.set(key, obj);
        this.resourceVersion = obj?.metadata?.resourceVersion ?? this.resourceVersion;
        this.changed();
        this.opts.onEvent?.(this.kind, type, obj);
      };
      let ended = false;
      const onDone = (err: unknown) => {
        ended = true;
        if (gone || (err as { statusCode?: number })?.statusCode === 410) resolve('gone');
        else resolve(err && !isAbort(err) ? 'error' : 'closed');
      };
      new Watch(this.kc)
        .watch(this.watchPath, { resourceVersion: this.resourceVersion, allowWatchBookmarks: true }, onEvent, onDone)
        .then((ctl) => {
          this.abort = ctl;
          if (this.stopped) ctl.abort();
          // The watch is open again (client-node reports a failed connect through `done`, first):
          // the API server answers, though this watch may not end for minutes.
          else if (!ended && this.failingSince) {
            this.failingSince = 0;
            this.reachability(this, false);
          }
        })
        .catch(() => resolve('error'));
    });
  }
}

export class ClusterWatch {
  private readonly reflectors: Reflector[] = [];
  private snap: ClusterSnapshot | undefined;

  constructor(kc: KubeConfig, private readonly opts: ClusterWatchOptions = {}) {
    const kinds = opts.kinds ?? (['pods', 'services', 'endpointslices', 'nodes'] as Kind[]);
    const changed = () => (this.snap = undefined);
    // Reachable as a whole only when every reflector's requests succeed again.
    let down = false;
    const reachability = (_r: Reflector, failing: boolean, err?: unknown) => {
      const now = failing || this.reflectors.some((x) => x.failing);
      if (now === down) return;
      down = now;
      opts.onReachability?.(!now, err);
    };
    for (const k of kinds) {
      const namespaces = k === 'nodes' ? undefined : opts.scopes?.[k];
      if (!namespaces) this.reflectors.push(new Reflector(k, undefined, kc, opts, changed, reachability));
      else for (const ns of new Set(namespaces)) this.reflectors.push(new Reflector(k, ns, kc, opts, changed, reachability));
    }
  }

  /** Initial lists; a failure names what could not be listed (`WatchStartError`). */
  async start(): Promise<void> {
    await Promise.all(
      this.reflectors.map((r) =>
        r.start().catch((err: unknown) => {
          throw new WatchStartError(r.scope, err, r.kind, r.listNamespace);
        }),
      ),
    );
  }

  stop(): void {
    for (const r of this.reflectors) r.stop();
  }

  /** Raw objects of one kind as last seen. */
  objects(kind: Kind): Obj[] {
    return this.reflectors.filter((r) => r.kind === kind).flatMap((r) => [...r.items.values()]);
  }

  /** The current state as a ClusterSnapshot; the same object until something changes. */
  snapshot(): ClusterSnapshot {
    if (this.snap) return this.snap;
    const pods = this.objects('pods').map(podInfo).filter((p) => p !== undefined);
    const endpoints = this.objects('endpointslices')
      .map(endpointSliceInfo)
      .filter((e) => e !== undefined);
    this.snap = {
      context: this.opts.context ?? '',
      takenAt: new Date().toISOString(),
      pods,
      services: this.objects('services').map(serviceInfo),
      nodes: this.objects('nodes').map(nodeInfo),
      endpoints,
    };
    return this.snap;
  }
}

/** The initial list of one kind failed (403, unreachable …): `scope` says which. */
export class WatchStartError extends Error {
  constructor(
    readonly scope: string,
    readonly error: unknown,
    /** What failed: the kind, and its namespace (none: cluster-wide). */
    readonly kind?: Kind,
    readonly namespace?: string,
  ) {
    super(`cannot list ${scope}`);
  }
}

function keyOf(o: Obj): string {
  const m = o?.metadata ?? {};
  return `${m.namespace ?? ''}/${m.name ?? ''}`;
}

function isAbort(err: unknown): boolean {
  return (err as { name?: string })?.name === 'AbortError' || (err as { type?: string })?.type === 'aborted';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
