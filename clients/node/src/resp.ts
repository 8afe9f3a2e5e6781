// RESP2, the Redis protocol, as dlockd speaks it: requests out, replies in.

/** A server's error reply: its code word (HELD, LEADER, ...) and text. */
export class ErrorReply {
  constructor(readonly message: string) {}
  get code(): string {
    const i = this.message.indexOf(" ");
    return i < 0 ? this.message : this.message.slice(0, i);
  }
}

export type Reply = string | number | Buffer | null | Reply[] | ErrorReply;
export type Arg = string | number | bigint | Buffer;

export function encode(args: Arg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

const INCOMPLETE = Symbol("incomplete");
const MAX_BULK = 512 * 1024 * 1024;

/** Replies parsed from the bytes fed in, one at a time. */
export class Reader {
  private buf = Buffer.alloc(0);
  private pos = 0;

  feed(data: Buffer): void {
    this.buf = this.pos > 0 ? Buffer.concat([this.buf.subarray(this.pos), data]) : Buffer.concat([this.buf, data]);
    this.pos = 0;
  }

  /** The next whole reply, or undefined. Throws on what RESP does not allow. */
  get(): Reply | undefined {
    const r = this.value(this.pos);
    if (r === INCOMPLETE) return undefined;
    this.pos = r[1];
    return r[0];
  }

  private line(pos: number): [string, number] | typeof INCOMPLETE {
    const end = this.buf.indexOf("\r\n", pos);
    if (end < 0) return INCOMPLETE;
    return [this.buf.toString("latin1", pos, end), end + 2];
  }

  private value(pos: number): [Reply, number] | typeof INCOMPLETE {
    if (pos >= this.buf.length) return INCOMPLETE;
    const t = String.fromCharCode(this.buf[pos]);
    const l = this.line(pos + 1);
    if (l === INCOMPLETE) return INCOMPLETE;
    const [text, next] = l;
    switch (t) {
      case "+":
        return [Buffer.from(text, "latin1").toString(), next];
      case "-":
        return [new ErrorReply(Buffer.from(text, "latin1").toString()), next];
      case ":":
        return [Number(text), next];
      case "$": {
        const n = Number(text);
        if (!Number.isInteger(n) || n > MAX_BULK) throw new Error("dlock: a bulk string RESP does not allow");
        if (n < 0) return [null, next];
        if (this.buf.length < next + n + 2) return INCOMPLETE;
        return [Buffer.from(this.buf.subarray(next, next + n)), next + n + 2];
      }
      case "*": {
        const n = Number(text);
        if (!Number.isInteger(n)) throw new Error("dlock: an array RESP does not allow");
        if (n < 0) return [null, next];
        const items: Reply[] = [];
        let p = next;
        for (let i = 0; i < n; i++) {
          const v = this.value(p);
          if (v === INCOMPLETE) return INCOMPLETE;
          items.push(v[0]);
          p = v[1];
        }
        return [items, p];
      }
    }
    throw new Error(`dlock: a reply RESP does not allow (type byte ${JSON.stringify(t)})`);
  }
}
