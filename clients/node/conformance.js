// The Node.js client's driver of the client conformance suite
// (tests/conformance/README.md): commands in on stdin, one line each,
// answers and events out on stdout; each command runs at once.
"use strict";
const readline = require("node:readline");
const { Client, ServerError, LockLostError, UnavailableError } = require("./dist");

let client, session;
const locks = new Map();
const say = (line) => process.stdout.write(line + "\n");
const code = (e) => e instanceof LockLostError ? "LOST" : e instanceof ServerError ? e.code
  : e instanceof UnavailableError ? "UNAVAILABLE" : "ERROR";

async function run(tag, verb, a) {
  try {
    if (verb === "open") {
      client = new Client({ servers: a[0] });
      session = await client.openSession(Number(a[1]));
      say(`${tag} ok ${session.id}`);
    } else if (verb === "acquire") {
      const l = await session.lock(a[0], { waitMs: Number(a[1]) });
      locks.set(a[0], l);
      l.signal.addEventListener("abort", () => say(`event lost ${a[0]}`), { once: true });
      say(`${tag} ok ${l.token}`);
    } else if (verb === "release") {
      const l = locks.get(a[0]);
      locks.delete(a[0]);
      await l.release();
      say(`${tag} ok`);
    } else if (verb === "safe") {
      const l = locks.get(a[0]);
      say(`${tag} ok ${l.safeUntil ? Math.max(0, Math.floor(l.safeUntil - performance.now())) : 0}`);
    } else if (verb === "lost") {
      say(`${tag} ok ${locks.get(a[0]).lost ? 1 : 0}`);
    } else if (verb === "close") {
      await session.close();
      await client.close();
      say(`${tag} ok`);
    } else {
      say(`${tag} err UNKNOWN`);
    }
  } catch (e) {
    say(`${tag} err ${code(e)}`);
  }
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const w = line.trim().split(/\s+/);
  if (w.length >= 2) void run(w[0], w[1], w.slice(2));
}).on("close", () => process.exit(0));
