import * as net from "node:net";
import * as tls from "node:tls";
import { Arg, encode, ErrorReply, Reader, Reply } from "./resp";
import { ServerError } from "./errors";

export function splitAddr(addr: string): [string, number] {
  const i = addr.lastIndexOf(":");
  const port = Number(addr.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0) {
    throw new Error(`dlock: a server address is host:port, not ${JSON.stringify(addr)}`);
  }
  let host = addr.slice(0, i);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return [host, port];
}

export interface TlsFiles {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** One connection to one server, one request at a time. */
export class Conn {
  private readonly reader = new Reader();
  private waiting: { resolve(v: Reply): void; reject(e: Error): void } | null = null;
  private closed = false;

  private constructor(readonly addr: string, private readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on("data", (d: Buffer) => {
      try {
        this.reader.feed(d);
        const v = this.reader.get();
        if (v !== undefined && this.waiting) {
          const w = this.waiting;
          this.waiting = null;
          w.resolve(v);
        }
      } catch (e) {
        this.fail(e as Error);
      }
    });
    sock.on("error", (e) => this.fail(e));
    sock.on("close", () => this.fail(new Error("the server closed the connection")));
  }

  static open(addr: string, timeoutMs: number, tlsFiles?: TlsFiles, user?: string, password?: string): Promise<Conn> {
    const [host, port] = splitAddr(addr);
    return new Promise((resolve, reject) => {
      const sock = tlsFiles
        ? tls.connect({ host, port, ca: tlsFiles.ca, cert: tlsFiles.cert, key: tlsFiles.key, servername: net.isIP(host) ? undefined : host })
        : net.connect({ host, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connecting to ${addr}: timed out`));
      }, timeoutMs);
      sock.once(tlsFiles ? "secureConnect" : "connect", async () => {
        clearTimeout(timer);
        sock.removeAllListeners("error");
        const c = new Conn(addr, sock);
        if (password) {
          try {
            const r = await c.call(user ? ["AUTH", user, password] : ["AUTH", password], timeoutMs);
            if (r instanceof ErrorReply) {
              c.close();
              reject(new ServerError(r.message));
              return;
            }
          } catch (e) {
            reject(e);
            return;
          }
        }
        resolve(c);
      });
      sock.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** Sends one request and waits for its reply; on a failure, a timeout or an abort the connection closes (the server then learns the caller went away). */
  call(args: Arg[], timeoutMs: number, signal?: AbortSignal): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error("the connection is closed"));
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`no answer in ${timeoutMs} ms`)), Math.max(1, timeoutMs));
      const onAbort = () => this.fail(new Error("aborted"));
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      this.waiting = {
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      this.sock.write(encode(args));
    });
  }

  private fail(e: Error): void {
    this.close();
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      this.sock.destroy();
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
