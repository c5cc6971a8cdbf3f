/**
 * Group commit of the log: many flush requests share one fdatasync. A request names the log write
 * sequence number it needs covered (the writes completed when it arrived); it is satisfied by any
 * sync that started after that many log writes had completed.
 */
export class LogSync {
  /** Log writes covered by the last completed sync. */
  syncedSeq = 0;
  private running = false;
  private waiters: Array<{ seq: number; resolve: () => void; reject: (e: unknown) => void }> = [];

  constructor(
    private readonly sync: () => Promise<void>,
    /** Current count of completed log writes and the lsid they reach. */
    private readonly progress: () => { seq: number; lsid: number },
    /** Called after each sync with the lsid it made durable. */
    private readonly onSynced: (lsid: number) => void,
  ) {}

  /** Resolves once a sync covering `seq` completed log writes is done. */
  request(seq: number): Promise<void> {
    if (seq <= this.syncedSeq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      this.start();
    });
  }

  get busy(): boolean {
    return this.running;
  }

  private start(): void {
    if (this.running || this.waiters.length === 0) return;
    this.running = true;
    const { seq, lsid } = this.progress();
    this.sync().then(
      () => {
        this.running = false;
        this.syncedSeq = Math.max(this.syncedSeq, seq);
        this.onSynced(lsid);
        const left: typeof this.waiters = [];
        for (const w of this.waiters) (w.seq <= this.syncedSeq ? w.resolve() : left.push(w));
        this.waiters = left;
        this.start();
      },
      (e: unknown) => {
        this.running = false;
        const ws = this.waiters;
        this.waiters = [];
        for (const w of ws) w.reject(e);
      },
    );
  }
}
