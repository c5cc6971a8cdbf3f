/**
 * The proxies of the agent in priority order (walb-tools-architecture §7.1): each transfer goes
 * to the first healthy one; a proxy that failed is skipped for proxyDownMs, after which it is
 * tried first again (fail-back). When every proxy is marked down, all are tried in order.
 */
export interface PoolEntry<L> {
  name: string;
  link: L;
}

export class ProxyPool<L> {
  private readonly downUntil = new Map<string, number>();

  constructor(
    readonly entries: readonly PoolEntry<L>[],
    private readonly downMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The proxies to try, in order: the healthy ones by priority (or all when none is). */
  order(): PoolEntry<L>[] {
    const t = this.now();
    const up = this.entries.filter((e) => (this.downUntil.get(e.name) ?? 0) <= t);
    return up.length > 0 ? up : [...this.entries];
  }

  markDown(name: string): void {
    this.downUntil.set(name, this.now() + this.downMs);
  }

  markUp(name: string): void {
    this.downUntil.delete(name);
  }

  isDown(name: string): boolean {
    return (this.downUntil.get(name) ?? 0) > this.now();
  }
}
