import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Conn, splitAddr, TlsFiles } from "./conn";
import { DlockError, LockLostError, ServerError, UnavailableError } from "./errors";
import { Arg, ErrorReply, Reply } from "./resp";
import { Session } from "./session";
import { Lock, Permits, Leadership } from "./handles";
import { Watch } from "./watch";

export interface ClientOptions {
  /** "host:port,host:port": any servers of the cluster ($DLOCK_SERVERS, else 127.0.0.1:7411). */
  servers?: string;
  /** The longest a call waits for an answer, across redirects, elections and reconnects (ms; default 10000). */
  timeoutMs?: number;
  /** The client's name, shown by the server. */
  name?: string;
  /** The lease of the session that lock() and the other shortcuts open on first use (ms; default 10000). */
  sessionTtlMs?: number;
  /** TLS: the CA (PEM file) of the servers' certificates, and this client's certificate and key ($DLOCK_TLS_CA, $DLOCK_TLS_CERT, $DLOCK_TLS_KEY). */
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Every connection logs in ($DLOCK_USER, $DLOCK_PASSWORD). */
  user?: string;
  password?: string;
}

/** Who leads an election: session 0 when nobody does. */
export interface LeaderState {
  session: number;
  token: number;
  value: string;
}

export interface CallOptions {
  /** ms of WAIT in the arguments, which each repeat sets to the wait left. */
  waitMs?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * A client of a dlock cluster. It finds the leader itself (a follower
 * answers LEADER host:port), reconnects after failures and sends each write
 * again with its request id, so that no request has a second effect. Each
 * call takes a connection of its own from a pool.
 */
export class Client {
  readonly servers: string[];
  readonly timeoutMs: number;
  readonly name: string;
  readonly sessionTtlMs: number;
  private readonly tls?: TlsFiles;
  private readonly user?: string;
  private readonly password?: string;
  private readonly idle = new Map<string, Conn[]>();
  private readonly prefix = `node-${randomBytes(6).toString("hex")}-`;
  private count = 0;
  private leader?: string;
  private next = 0;
  private reached = false;
  private closed = false;
  private session?: Session;
  readonly sessions = new Set<Session>();
  lastServer = "";

  constructor(o: ClientOptions = {}) {
    const env = process.env;
    const list = (o.servers ?? env.DLOCK_SERVERS ?? "127.0.0.1:7411").split(",").map((s) => s.trim()).filter(Boolean);
    if (list.length === 0) throw new Error("dlock: no server given");
    list.forEach(splitAddr);
    this.servers = list;
    this.timeoutMs = o.timeoutMs ?? 10000;
    this.name = o.name ?? "";
    this.sessionTtlMs = o.sessionTtlMs ?? 10000;
    const ca = o.tlsCa ?? env.DLOCK_TLS_CA;
    if (ca) {
      const cert = o.tlsCert ?? env.DLOCK_TLS_CERT;
      const key = o.tlsKey ?? env.DLOCK_TLS_KEY ?? cert;
      this.tls = { ca: readFileSync(ca), cert: cert ? readFileSync(cert) : undefined, key: key ? readFileSync(key) : undefined };
    }
    this.user = o.user ?? env.DLOCK_USER;
    this.password = o.password ?? env.DLOCK_PASSWORD;
  }

  /** A request id never used before. */
  newReq(): string {
    return this.prefix + ++this.count;
  }

  private async take(addr: string, timeoutMs: number): Promise<Conn> {
    const q = this.idle.get(addr);
    while (q && q.length > 0) {
      const c = q.pop()!;
      if (!c.isClosed) return c;
    }
    return Conn.open(addr, timeoutMs, this.tls, this.user, this.password);
  }

  private give(c: Conn): void {
    const q = this.idle.get(c.addr) ?? [];
    this.idle.set(c.addr, q);
    if (!this.closed && q.length < 16 && !c.isClosed) q.push(c);
    else c.close();
  }

  private rotate(addr: string): string {
    if (this.leader === addr) this.leader = undefined;
    this.next++;
    return this.servers[this.next % this.servers.length];
  }

  /** Sends a command to the leader and returns its reply, following LEADER, waiting out NOLEADER and reconnecting until it is answered or the time runs out. */
  async execute(args: Arg[], o: CallOptions = {}): Promise<Reply> {
    const waitMs = o.waitMs ?? 0;
    const timeout = o.timeoutMs ?? this.timeoutMs;
    const start = Date.now();
    const deadline = start + timeout + waitMs;
    const waitEnd = start + waitMs;
    args = [...args];
    const at = waitMs > 0 ? args.indexOf("WAIT") + 1 : 0;
    let addr = this.leader ?? this.servers[this.next % this.servers.length];
    const refused = new Set<string>();
    let sent = false;
    let last = "";
    for (;;) {
      if (o.signal?.aborted) throw new DlockError("dlock: aborted", "ABORTED");
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (at > 0) args[at] = Math.max(1, waitEnd - Date.now());
      let c: Conn;
      try {
        c = await this.take(addr, Math.min(left, 2000));
      } catch (e) {
        if (e instanceof ServerError) throw e;
        last = `${addr}: ${(e as Error).message}`;
        if ((e as NodeJS.ErrnoException).code === "ECONNREFUSED") {
          refused.add(addr);
          if (!this.reached && refused.size === this.servers.length) {
            throw new UnavailableError(`dlock: every server refused the connection (${this.servers.join(", ")}): nothing is listening there; check the server list, or start the servers`);
          }
        }
        addr = this.rotate(addr);
        await sleep(Math.min(50, deadline - Date.now()));
        continue;
      }
      this.reached = true;
      const callTimeout = Math.min(left, Math.max(0, waitEnd - Date.now()) + Math.max(1000, timeout / 3));
      let v: Reply;
      try {
        v = await c.call(args, callTimeout, o.signal);
      } catch (e) {
        if (o.signal?.aborted) throw new DlockError("dlock: aborted", "ABORTED");
        sent = true;
        last = `${addr}: ${(e as Error).message}`;
        addr = this.rotate(addr);
        continue;
      }
      this.give(c);
      if (v instanceof ErrorReply) {
        const w = v.message.split(" ");
        if (v.code === "LEADER" && w.length >= 2) {
          addr = this.leader = w[1];
          continue;
        }
        if (v.code === "NOLEADER") {
          sent = true;
          last = `${addr}: ${v.message}`;
          await sleep(Math.min(50, deadline - Date.now()));
          addr = this.rotate(addr);
          continue;
        }
        throw new ServerError(v.message);
      }
      this.leader = this.lastServer = addr;
      return v;
    }
    if (sent) throw new UnavailableError(`dlock: no answer to ${args[0]} in ${timeout + waitMs} ms (last: ${last}); sending it again is safe`, "OUTCOME_UNKNOWN");
    throw new UnavailableError(`dlock: no server reachable for ${args[0]} in ${timeout + waitMs} ms (last: ${last})`);
  }

  /** A new session with a lease of ttlMs, kept alive by the library. */
  async openSession(ttlMs: number = this.sessionTtlMs): Promise<Session> {
    const s = await Session.open(this, ttlMs);
    this.sessions.add(s);
    return s;
  }

  /** The session lock() and the others use: opened on first use, and again once lost. */
  async defaultSession(): Promise<Session> {
    if (this.session && !this.session.lost) return this.session;
    this.session = await this.openSession();
    return this.session;
  }

  /** Acquires name exclusive for the client's session, waiting up to waitMs (0: a try). */
  async lock(name: string, o: { waitMs?: number; signal?: AbortSignal } = {}): Promise<Lock> {
    return (await this.defaultSession()).lock(name, o);
  }

  /**
   * Runs fn under the lock name and releases it after: fn gets an
   * AbortSignal that fires if the lock is lost while it runs (and the
   * lock). A lock lost during fn makes using() reject with LockLostError
   * once fn has ended.
   */
  async using<T>(name: string, o: { waitMs?: number }, fn: (signal: AbortSignal, lock: Lock) => Promise<T>): Promise<T> {
    const lock = await this.lock(name, o);
    let result: T;
    try {
      result = await fn(lock.signal, lock);
    } catch (e) {
      await lock.release().catch(() => undefined);
      throw e;
    }
    await lock.release();
    return result;
  }

  async semaphore(name: string, permits: number, count = 1, o: { waitMs?: number } = {}): Promise<Permits> {
    return (await this.defaultSession()).acquire(name, permits, count, o);
  }

  async campaign(name: string, value: string, o: { waitMs?: number } = {}): Promise<Leadership> {
    return (await this.defaultSession()).campaign(name, value, o);
  }

  /** The changes of name from now (fromRevision undefined), or after fromRevision. */
  async watch(name: string, fromRevision?: number): Promise<Watch> {
    if (fromRevision === undefined) {
      const info = String(await this.execute(["INFO", "raft"]));
      fromRevision = Number(/applied_index:(\d+)/.exec(info)?.[1] ?? 0);
    }
    return new Watch(this, name, fromRevision);
  }

  /**
   * The leader of the election name, as an async iterator: first as read
   * now, then at each change of leader or value, in order (a leader of
   * session 0: none), until signal aborts.
   */
  async *observe(name: string, signal?: AbortSignal): AsyncGenerator<LeaderState> {
    const w = await this.watch(name);
    const st = await this.leaderOf(name);
    let cur: LeaderState = { session: Number(st.leader), token: Number(st.token), value: String(st.value) };
    yield cur;
    while (!signal?.aborted) {
      let ch;
      try {
        ch = await w.next(signal);
      } catch (e) {
        if (signal?.aborted) return;
        throw e;
      }
      let next = cur;
      if (ch.event === "gone") {
        const now = await this.leaderOf(name);
        next = { session: Number(now.leader), token: Number(now.token), value: String(now.value) };
      } else if (ch.holders === 0) next = { session: 0, token: 0, value: "" };
      else if (ch.event === "granted" || ch.event === "proclaimed") next = { session: ch.session, token: ch.token, value: ch.value };
      if (next.session !== cur.session || next.token !== cur.token || next.value !== cur.value) {
        cur = next;
        yield cur;
      }
    }
  }

  /** LOCK.STATUS: the lock's fields (docs/protocol.md §4). */
  async lockStatus(name: string): Promise<Record<string, string | number>> {
    return fields(await this.execute(["LOCK.STATUS", name]));
  }

  /** ELECT.LEADER: who leads the election. */
  async leaderOf(name: string): Promise<Record<string, string | number>> {
    return fields(await this.execute(["ELECT.LEADER", name]));
  }

  /** Closes the client's sessions (their locks are released) and its connections. */
  async close(): Promise<void> {
    for (const s of [...this.sessions]) await s.close().catch(() => undefined);
    this.closed = true;
    for (const q of this.idle.values()) q.forEach((c) => c.close());
    this.idle.clear();
  }
}

export function fields(v: Reply): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  const l = v as Reply[];
  for (let i = 0; i + 1 < l.length; i += 2) {
    const val = l[i + 1];
    out[String(l[i])] = Buffer.isBuffer(val) ? val.toString() : (val as number);
  }
  return out;
}

export { LockLostError };
