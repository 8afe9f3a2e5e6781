import type { Client } from "./client";
import type { Reply } from "./resp";

/**
 * One change of a name's holders (docs/protocol.md §4, Watches): its
 * revision; its event (granted, released, lost, withdrawn, downgraded,
 * proclaimed; gone: the changes before revision are no longer kept, read
 * the state and go on); the hold it is about; the name's holders after it,
 * and an election's value.
 */
export interface Change {
  name: string;
  revision: number;
  event: string;
  session: number;
  owner: string;
  token: number;
  exclusive: number;
  shared: number;
  holders: number;
  value: string;
}

/**
 * The changes of a name, in the order the cluster applied them, as an
 * async iterator: `for await (const change of await client.watch(name))`.
 * It reads with WATCH.NEXT from the last revision given, so that nothing
 * is missed across a failure.
 */
export class Watch implements AsyncIterable<Change> {
  private pending: Change[] = [];
  constructor(private readonly client: Client, readonly name: string, public revision: number) {}

  /** The next change, waiting until one comes (or signal aborts). */
  async next(signal?: AbortSignal): Promise<Change> {
    while (this.pending.length === 0) {
      const v = (await this.client.execute(["WATCH.NEXT", this.name, this.revision, "WAIT", 30000], { waitMs: 30000, signal })) as Reply[] | null;
      for (const e of v ?? []) {
        const a = e as Reply[];
        const s = (i: number) => String(a[i] ?? "");
        const n = (i: number) => Number(a[i] ?? 0);
        const ch: Change = { name: s(1), revision: n(2), event: s(3), session: n(4), owner: s(5), token: n(6), exclusive: n(7), shared: n(8), holders: n(9), value: s(10) };
        this.pending.push(ch);
        if (ch.revision > this.revision) this.revision = ch.revision;
      }
    }
    return this.pending.shift()!;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Change> {
    for (;;) yield await this.next();
  }
}
