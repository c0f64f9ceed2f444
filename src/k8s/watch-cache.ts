// List+watch of the objects that name traffic (Pods, Services, EndpointSlices,
// Nodes), kept in memory and viewed as a ClusterSnapshot. Each kind has a
// reflector: list, then watch from the list's resourceVersion; a watch that
// ends is resumed from the last version seen; "410 Gone" (version too old)
// triggers a fresh list whose differences are reported as events. When the
// API server cannot be reached for `giveUpMs`, onFatal is called once.

import { CoreV1Api, DiscoveryV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { ClusterSnapshot } from '../model/cluster.js';
import { endpointSliceInfo, nodeInfo, podInfo, serviceInfo } from './objects.js';

type Obj = Record<string, any>;
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type Kind = 'pods' | 'services' | 'endpointslices' | 'nodes';

interface KindSpec {
  watchPath: string;
  list(kc: KubeConfig): Promise<{ items: Obj[]; metadata?: { resourceVersion?: string } }>;
}

const KINDS: Record<Kind, KindSpec> = {
  pods: { watchPath: '/api/v1/pods', list: (kc) => kc.makeApiClient(CoreV1Api).listPodForAllNamespaces() },
  services: { watchPath: '/api/v1/services', list: (kc) => kc.makeApiClient(CoreV1Api).listServiceForAllNamespaces() },
  nodes: { watchPath: '/api/v1/nodes', list: (kc) => kc.makeApiClient(CoreV1Api).listNode() },
  endpointslices: {
    watchPath: '/apis/discovery.k8s.io/v1/endpointslices',
    list: (kc) => kc.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces(),
  },
};

export interface ClusterWatchOptions {
  /** Kinds to keep (default: all four). */
  kinds?: Kind[];
  /** kubeconfig context name, recorded in snapshots. */
  context?: string;
  /** Called for every change after the initial list (and for relist differences). */
  onEvent?: (kind: Kind, type: WatchEventType, obj: Obj) => void;
  /** The API server stayed unreachable: the run cannot go on. */
  onFatal?: (err: unknown) => void;
  /** How long to keep retrying an unreachable API server (default 4 s). */
  giveUpMs?: number;
}

class Reflector {
  readonly items = new Map<string, Obj>();
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private stopped = false;
  private failingSince = 0;

  constructor(
    private readonly kind: Kind,
    private readonly kc: KubeConfig,
    private readonly opts: ClusterWatchOptions,
    private readonly changed: () => void,
  ) {}

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
    const list = await KINDS[this.kind].list(this.kc);
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
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
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
        this.failingSince = 0;
      } catch (err) {
        if (!this.failingSince) this.failingSince = Date.now();
        if (Date.now() - this.failingSince > (this.opts.giveUpMs ?? 4000)) {
          this.stopped = true;
          this.opts.onFatal?.(err);
          return;
        }
        await sleep(250);
      }
    }
  }

  /** One watch request; resolves with why it ended. */
  private watchOnce(): Promise<'closed' | 'gone' | 'error'> {
    return new Promise((resolve) => {
      let gone = false;
      const onEvent = (type: string, obj: Obj) => {
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
      const onDone = (err: unknown) => {
        if (gone || (err as { statusCode?: number })?.statusCode === 410) resolve('gone');
        else resolve(err && !isAbort(err) ? 'error' : 'closed');
      };
      new Watch(this.kc)
        .watch(KINDS[this.kind].watchPath, { resourceVersion: this.resourceVersion, allowWatchBookmarks: true }, onEvent, onDone)
        .then((ctl) => {
          this.abort = ctl;
          if (this.stopped) ctl.abort();
        })
        .catch(() => resolve('error'));
    });
  }
}

export class ClusterWatch {
  private readonly reflectors: Reflector[];
  private snap: ClusterSnapshot | undefined;

  constructor(kc: KubeConfig, private readonly opts: ClusterWatchOptions = {}) {
    const kinds = opts.kinds ?? (['pods', 'services', 'endpointslices', 'nodes'] as Kind[]);
    this.reflectors = kinds.map((k) => new Reflector(k, kc, opts, () => (this.snap = undefined)));
    this.kinds = kinds;
  }
  private readonly kinds: Kind[];

  async start(): Promise<void> {
    await Promise.all(this.reflectors.map((r) => r.start()));
  }

  stop(): void {
    for (const r of this.reflectors) r.stop();
  }

  /** Raw objects of one kind as last seen. */
  objects(kind: Kind): Obj[] {
    const i = this.kinds.indexOf(kind);
    return i < 0 ? [] : [...this.reflectors[i].items.values()];
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
