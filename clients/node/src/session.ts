import type { Client } from "./client";
import { DlockError, LockLostError, ServerError } from "./errors";
import { Hold, Lock, Leadership, Permits } from "./handles";

/** How far clocks may drift apart (parts per million), and the margin taken off every safe-until deadline, as libdlock. */
export const DRIFT_PPM = 1000;
export const SAFETY_MS = 50;

const now = () => performance.now();

export function safeUntil(sent: number, ttlMs: number): number {
  const margin = Math.ceil((ttlMs * DRIFT_PPM) / 1e6) + SAFETY_MS;
  return ttlMs > margin ? sent + ttlMs - margin : sent;
}

/**
 * A lease on the cluster that the library renews every third of its TTL.
 * Its locks, permits and leaderships are held as long as it lives; when its
 * lease can no longer be proven, `signal` aborts, and so does every handle's.
 */
export class Session {
  private readonly controller = new AbortController();
  private safe = 0;
  private nextAt = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  readonly holds = new Set<Hold>();

  private constructor(readonly client: Client, readonly id: number, readonly ttlMs: number) {}

  static async open(client: Client, ttlMs: number): Promise<Session> {
    if (!(ttlMs >= 100 && ttlMs <= 3600000)) throw new RangeError(`dlock: a session's TTL is 100 ms to 1 h, not ${ttlMs}`);
    const sent = now();
    const id = (await client.execute(["SESSION.OPEN", ttlMs, "NAME", client.name, "REQ", client.newReq()])) as number;
    const s = new Session(client, id, ttlMs);
    s.safe = safeUntil(sent, ttlMs);
    s.nextAt = sent + ttlMs / 3;
    s.schedule();
    return s;
  }

  /** Aborts the moment the session is lost. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Until when (performance.now() ms) the lease is known to hold; 0 once lost. */
  get safeUntil(): number {
    return this.lost ? 0 : this.safe;
  }

  /** True once the lease can no longer be proven. Final. */
  get lost(): boolean {
    if (!this.controller.signal.aborted && now() >= this.safe) this.lose("the lease ran out without a renewal");
    return this.controller.signal.aborted;
  }

  private schedule(): void {
    if (this.stopped || this.controller.signal.aborted) return;
    const t = now();
    if (t >= this.safe) {
      this.lose("the lease ran out without a renewal");
      return;
    }
    this.timer = setTimeout(() => void this.tick(), Math.max(0, Math.min(this.nextAt, this.safe) - t));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.controller.signal.aborted) return;
    const t = now();
    if (t >= this.safe) {
      this.lose("the lease ran out without a renewal");
      return;
    }
    if (t < this.nextAt) {
      this.schedule();
      return;
    }
    try {
      await this.keepalive();
    } catch (e) {
      if (e instanceof LockLostError) return;
      this.nextAt = now() + Math.min(this.ttlMs / 3, 100);
    }
    this.schedule();
  }

  /** Renews the lease once (the library does it by itself). */
  async keepalive(): Promise<void> {
    const sent = now();
    try {
      await this.client.execute(["SESSION.KEEPALIVE", this.id], { timeoutMs: Math.max(100, Math.min(this.client.timeoutMs, this.safe - sent)) });
    } catch (e) {
      if (e instanceof ServerError && e.code === "NOSESSION") {
        this.lose("the server ended the session");
        throw new LockLostError(`dlock: session ${this.id} has ended`);
      }
      throw e;
    }
    const u = safeUntil(sent, this.ttlMs);
    if (u > this.safe) this.safe = u;
    this.nextAt = sent + this.ttlMs / 3;
  }

  lose(reason: string): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(new LockLostError(`dlock: session ${this.id} lost: ${reason}`));
    if (this.timer) clearTimeout(this.timer);
    for (const h of this.holds) h.lose();
  }

  /** Acquires name exclusive (or shared), waiting up to waitMs in its FIFO queue (0: a try, ServerError HELD when held). */
  lock(name: string, o: { waitMs?: number; shared?: boolean; signal?: AbortSignal } = {}): Promise<Lock> {
    return Lock.acquire(this, name, o);
  }

  /** count permits of the semaphore name of permits. */
  acquire(name: string, permits: number, count = 1, o: { waitMs?: number } = {}): Promise<Permits> {
    return Permits.acquire(this, name, permits, count, o);
  }

  /** Campaigns for leader of the election name, publishing value. */
  campaign(name: string, value: string, o: { waitMs?: number } = {}): Promise<Leadership> {
    return Leadership.acquire(this, name, value, o);
  }

  /** Closes the session: the server releases all it holds at once. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.client.sessions.delete(this);
    if (this.controller.signal.aborted) return;
    try {
      await this.client.execute(["SESSION.CLOSE", this.id, "REQ", this.client.newReq()]);
    } catch (e) {
      if (!(e instanceof DlockError)) throw e;
    } finally {
      this.lose("closed");
    }
  }
}
