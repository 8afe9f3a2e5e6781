import { randomBytes } from "node:crypto";
import { LockLostError, ServerError, UnavailableError } from "./errors";
import type { Session } from "./session";
import type { Arg } from "./resp";

/** One grant of a session: its fencing token, until when it is safe, and a signal that aborts when it is lost. */
export class Hold {
  private readonly controller = new AbortController();
  private released = false;

  protected constructor(readonly session: Session, readonly name: string, readonly owner: string, readonly token: number, protected releaseArgs: Arg[]) {
    session.holds.add(this);
    if (session.lost) this.lose();
  }

  protected static async grant(session: Session, args: Arg[], waitMs: number, signal?: AbortSignal): Promise<number> {
    if (session.lost) throw new LockLostError(`dlock: session ${session.id} is lost`);
    if (waitMs > 0) args.push("WAIT", waitMs);
    args.push("REQ", session.client.newReq());
    try {
      return (await session.client.execute(args, { waitMs, signal })) as number;
    } catch (e) {
      if (e instanceof ServerError && e.code === "NOSESSION") {
        session.lose("the server ended the session");
        throw new LockLostError(`dlock: session ${session.id} has ended`);
      }
      throw e;
    }
  }

  static newOwner(): string {
    return `node-${process.pid}-${randomBytes(4).toString("hex")}`;
  }

  /** Aborts the moment it can no longer be proven held. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get lost(): boolean {
    if (!this.controller.signal.aborted && this.session.lost) this.lose();
    return this.controller.signal.aborted;
  }

  /** Until when (performance.now() ms) it is known held; 0 once lost or released. */
  get safeUntil(): number {
    return this.released || this.lost ? 0 : this.session.safeUntil;
  }

  /** Throws LockLostError unless it is held within safe-until. */
  check(): void {
    if (this.released || this.lost) throw new LockLostError(`dlock: ${this.name} is not held`);
  }

  lose(): void {
    if (!this.released && !this.controller.signal.aborted) {
      this.controller.abort(new LockLostError(`dlock: ${this.name} was lost`));
    }
  }

  /** Releases it; LockLostError if it was lost before (the server is told all the same). */
  async release(): Promise<void> {
    if (this.released) throw new Error(`dlock: ${this.name} is released already`);
    let lost = this.lost;
    this.released = true;
    this.session.holds.delete(this);
    try {
      await this.session.client.execute([...this.releaseArgs, "REQ", this.session.client.newReq()]);
    } catch (e) {
      if (e instanceof ServerError && (e.code === "NOTHELD" || e.code === "NOSESSION")) lost = true;
      else if (!(e instanceof UnavailableError && lost)) throw e;
    }
    if (lost) throw new LockLostError(`dlock: ${this.name} was lost before its release`);
  }
}

/** A lock held by a session: exclusive, or shared (a read lock). */
export class Lock extends Hold {
  static async acquire(s: Session, name: string, o: { waitMs?: number; shared?: boolean; signal?: AbortSignal }): Promise<Lock> {
    const owner = Hold.newOwner();
    const mode = o.shared ? ["SHARED"] : [];
    const token = await Hold.grant(s, ["LOCK.ACQUIRE", name, s.id, "OWNER", owner, ...mode], o.waitMs ?? 0, o.signal);
    return new Lock(s, name, owner, token, ["LOCK.RELEASE", name, s.id, "OWNER", owner, ...mode]);
  }

  /** Turns this exclusive hold into a shared one, in place, keeping the token. */
  async downgrade(): Promise<void> {
    this.check();
    await this.session.client.execute(["LOCK.DOWNGRADE", this.name, this.session.id, "OWNER", this.owner, "REQ", this.session.client.newReq()]);
    this.releaseArgs = [...this.releaseArgs, "SHARED"];
  }
}

/** Permits of a semaphore. */
export class Permits extends Hold {
  static async acquire(s: Session, name: string, permits: number, count: number, o: { waitMs?: number }): Promise<Permits> {
    const owner = Hold.newOwner();
    const token = await Hold.grant(s, ["SEM.ACQUIRE", name, s.id, permits, "COUNT", count, "OWNER", owner], o.waitMs ?? 0);
    return new Permits(s, name, owner, token, ["SEM.RELEASE", name, s.id, "COUNT", count, "OWNER", owner]);
  }
}

/** Leadership of an election; its token is the leadership token. */
export class Leadership extends Hold {
  static async acquire(s: Session, name: string, value: string, o: { waitMs?: number }): Promise<Leadership> {
    const owner = Hold.newOwner();
    const token = await Hold.grant(s, ["ELECT.CAMPAIGN", name, s.id, value, "OWNER", owner], o.waitMs ?? 0);
    return new Leadership(s, name, owner, token, ["ELECT.RESIGN", name, s.id, "OWNER", owner]);
  }

  /** Publishes a new value; LockLostError if it no longer leads. */
  async proclaim(value: string): Promise<void> {
    this.check();
    try {
      await this.session.client.execute(["ELECT.PROCLAIM", this.name, this.session.id, this.token, value, "REQ", this.session.client.newReq()]);
    } catch (e) {
      if (e instanceof ServerError && e.code === "NOTHELD") {
        this.lose();
        throw new LockLostError(`dlock: no longer the leader of ${this.name}`);
      }
      throw e;
    }
  }

  /** Steps down; the next candidate leads at once. */
  resign(): Promise<void> {
    return this.release();
  }
}
