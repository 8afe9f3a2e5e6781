// check.js drives Node.js Redis lock libraries, unchanged, against a server
// at the address given (dlockd: tests/system/test_redis_locks.py) and prints
// what each step gave, one "step: result" line each. The libraries are
// pinned by package-lock.json.
//
//   node check.js HOST:PORT all
//   node check.js HOST:PORT take NAME...         (prints the value)
//   node check.js HOST:PORT use VALUE NAME...    (extends, then releases)
//   node check.js - shas                         (the SHA1s of the scripts)
"use strict";

const Redis = require("ioredis");
const { createClient } = require("redis");
const Redlock = require("redlock").default;
const { ResourceLockedError } = require("redlock");
const Redlock4 = require("redlock4");
const { Mutex, Semaphore, MultiSemaphore } = require("redis-semaphore");

function say(step, ...v) {
  console.log(step + ": " + v.map(String).join(" "));
}

async function fails(p) {
  try {
    await p;
    return "succeeded";
  } catch (e) {
    return e.constructor.name;
  }
}

// node-redlock 5 over ioredis: a multi-key lock is all or nothing.
async function redlock5(host, port) {
  const client = new Redis({ host, port });
  const redlock = new Redlock([client], { retryCount: 0 });
  const lock = await redlock.acquire(["rl/a", "rl/b", "rl/c"], 5000);
  say("v5 acquire", lock.resources.join(","));
  say("v5 values", (await client.get("rl/b")) === lock.value);
  // "rl/c" is held: nothing of the second lock is taken, not even "rl/d".
  const e = await fails(redlock.acquire(["rl/d", "rl/c"], 5000));
  say("v5 overlap", e, await client.exists("rl/d"));
  const longer = await lock.extend(10000);
  const ttl = await client.pttl("rl/a");
  say("v5 extend", longer.value === lock.value, ttl > 5000 && ttl <= 10000);
  await longer.release();
  say("v5 released", await client.exists("rl/a"), await client.exists("rl/c"));
  // using(): the lock kept alive while the routine runs.
  const got = await redlock.using(["rl/job"], 1000, async (signal) => {
    await new Promise((r) => setTimeout(r, 1500));
    return signal.aborted ? "aborted" : await client.get("rl/job");
  });
  say("v5 using", typeof got === "string" && got.length > 0);
  say("v5 using after", await client.exists("rl/job"));
  const held = await redlock.acquire(["rl/x"], 5000);
  const r = await fails(
    new Redlock([client], { retryCount: 0 }).acquire(["rl/x"], 5000),
  );
  say("v5 busy", r === "ExecutionError" || r === ResourceLockedError.name);
  await held.release();
  client.disconnect();
}

// node-redlock 4 (callbacks and bluebird) over ioredis.
async function redlock4(host, port) {
  const client = new Redis({ host, port });
  const redlock = new Redlock4([client], { retryCount: 0 });
  const lock = await redlock.lock(["rl4/a", "rl4/b"], 5000);
  say("v4 lock", await client.get("rl4/a") === lock.value);
  say("v4 other", await fails(redlock.lock(["rl4/b", "rl4/z"], 5000)),
    await client.exists("rl4/z"));
  const ext = await lock.extend(8000);
  say("v4 extend", (await client.pttl("rl4/b")) > 5000, ext.value === lock.value);
  await ext.unlock();
  say("v4 unlocked", await client.exists("rl4/a"), await client.exists("rl4/b"));
  client.disconnect();
}

// redis-semaphore's Mutex over ioredis.
async function semaphoreMutex(host, port) {
  const client = new Redis({ host, port });
  const m = new Mutex(client, "sem-mutex", { lockTimeout: 2000, refreshInterval: 500 });
  await m.acquire();
  say("mutex acquire", m.isAcquired, (await client.get("mutex:sem-mutex")) === m.identifier);
  const other = new Mutex(client, "sem-mutex", { lockTimeout: 2000, acquireTimeout: 300,
    retryInterval: 50 });
  say("mutex other", await other.tryAcquire());
  // Refreshed every 500 ms: still held after its 2 s timeout.
  await new Promise((r) => setTimeout(r, 2600));
  say("mutex refreshed", m.isAcquired, (await client.get("mutex:sem-mutex")) === m.identifier);
  await m.release();
  say("mutex released", await client.exists("mutex:sem-mutex"));
  say("mutex other now", await other.tryAcquire());
  await other.release();
  client.disconnect();
}

// redis-semaphore's Semaphore over ioredis: two permits, each its holder's
// lease, refreshed while held.
async function semaphore(host, port) {
  const client = new Redis({ host, port });
  const opts = { lockTimeout: 2000, refreshInterval: 500, acquireTimeout: 300,
    retryInterval: 50 };
  const a = new Semaphore(client, "pool", 2, opts);
  const b = new Semaphore(client, "pool", 2, opts);
  const c = new Semaphore(client, "pool", 2, opts);
  await a.acquire();
  await b.acquire();
  say("semaphore two", a.isAcquired, b.isAcquired);
  say("semaphore third", await c.tryAcquire());
  await new Promise((r) => setTimeout(r, 2600));
  say("semaphore refreshed", a.isAcquired, b.isAcquired, await c.tryAcquire());
  await a.release();
  say("semaphore after release", await c.tryAcquire());
  await b.release();
  await c.release();
  const st = await client.call("SEM.STATUS", "semaphore:pool");
  say("semaphore used", st[st.indexOf("used") + 1]);
  // MultiSemaphore: 3 of 4 permits at once, then 2 more do not fit.
  const big = new MultiSemaphore(client, "pool4", 4, 3, opts);
  const small = new MultiSemaphore(client, "pool4", 4, 2, opts);
  await big.acquire();
  const used = await client.call("SEM.STATUS", "semaphore:pool4");
  say("multi taken", big.isAcquired, used[used.indexOf("used") + 1]);
  say("multi no room", await small.tryAcquire());
  await new Promise((r) => setTimeout(r, 2600));
  say("multi refreshed", big.isAcquired);
  await big.release();
  say("multi then", await small.tryAcquire());
  await small.release();
  client.disconnect();
}

// node-redis (the "redis" package): the pattern of Redis's documentation.
async function nodeRedis(host, port) {
  const client = createClient({ socket: { host, port } });
  client.on("error", () => {});
  await client.connect();
  say("node-redis set", await client.set("nr/job", "me", { NX: true, PX: 5000 }));
  say("node-redis again", await client.set("nr/job", "you", { NX: true, PX: 5000 }));
  const del = 'if redis.call("get",KEYS[1]) == ARGV[1] then return ' +
    'redis.call("del",KEYS[1]) else return 0 end';
  say("node-redis not owner", await client.eval(del, { keys: ["nr/job"], arguments: ["you"] }));
  say("node-redis release", await client.eval(del, { keys: ["nr/job"], arguments: ["me"] }));
  await client.quit();
}

// The SHA1 of each script the libraries send, as installed.
function shas() {
  const idle = new Redis({ lazyConnect: true }); // never connects
  const v5 = new Redlock([idle]).scripts, v4 = new Redlock4([idle]).scripts;
  for (const [lib, s] of [["v5", v5], ["v4", v4]])
    for (const k of Object.keys(s)) say("redlock " + lib + " " + k, s[k].hash);
  const fs = require("fs"), path = require("path"), crypto = require("crypto");
  const lib = path.dirname(require.resolve("redis-semaphore"));
  for (const f of ["mutex/release.js", "mutex/refresh.js", "semaphore/acquire/lua.js",
    "semaphore/refresh/lua.js", "multiSemaphore/acquire/lua.js",
    "multiSemaphore/refresh/lua.js", "multiSemaphore/release/lua.js"]) {
    const text = fs.readFileSync(path.join(lib, f), "utf8").match(/createEval\)\(`([\s\S]*?)`/)[1];
    say("redis-semaphore " + f, crypto.createHash("sha1").update(text).digest("hex"));
  }
}

async function main() {
  const [addr, what, ...rest] = process.argv.slice(2);
  if (what === "shas") return shas();
  if (!addr || !what) {
    console.error("usage: node check.js HOST:PORT all|take NAME...|use VALUE NAME...");
    process.exit(2);
  }
  const i = addr.lastIndexOf(":");
  const host = addr.slice(0, i), port = Number(addr.slice(i + 1));
  if (what === "take") {
    const client = new Redis({ host, port });
    const lock = await new Redlock([client], { retryCount: 3 }).acquire(rest, 30000);
    say("acquire", lock.resources.join(","));
    say("value", lock.value);
    client.disconnect();
  } else if (what === "use") {
    const client = new Redis({ host, port });
    const redlock = new Redlock([client], { retryCount: 3 });
    const [value, ...names] = rest;
    const lock = new (require("redlock").Lock)(redlock, names, value, [],
      Date.now() + 30000);
    const longer = await lock.extend(30000);
    say("extend", longer.resources.join(","));
    await longer.release();
    say("released", (await Promise.all(names.map((n) => client.exists(n)))).join(","));
    client.disconnect();
  } else {
    await redlock5(host, port);
    await redlock4(host, port);
    await semaphoreMutex(host, port);
    await semaphore(host, port);
    await nodeRedis(host, port);
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
