// The bench workloads with the Node.js client (bench/clients.py runs it
// beside the other clients): U, each client its own lock (acquire,
// release); H, one hot lock (acquire waiting, release). Prints one line as
// dlock-bench does.
//
//   node bench.js SERVERS U|H CLIENTS SECONDS WARMUP_SECONDS
"use strict";
const { Client } = require("./dist");

async function main() {
  const [servers, workload, n, seconds, warmup] = process.argv.slice(2);
  const clients = Number(n);
  const c = new Client({ servers });
  const sessions = [];
  for (let i = 0; i < clients; i++) sessions.push(await c.openSession(10000));
  const startAt = performance.now() + Number(warmup) * 1000;
  const stopAt = startAt + Number(seconds) * 1000;
  const lat = [];
  await Promise.all(sessions.map(async (s, i) => {
    const name = workload === "U" ? `node-u-${i}` : "node-hot";
    const waitMs = workload === "U" ? 0 : 10000;
    for (;;) {
      const t0 = performance.now();
      if (t0 >= stopAt) break;
      const l = await s.lock(name, { waitMs });
      const t1 = performance.now();
      await l.release();
      if (t0 >= startAt) lat.push(t1 - t0);
    }
  }));
  await c.close();
  lat.sort((a, b) => a - b);
  const p50 = lat.length ? lat[Math.floor(lat.length / 2)] : 0;
  const p99 = lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] : 0;
  console.log(`system=node workload=${workload} clients=${clients} ops_per_s=${Math.floor(lat.length / Number(seconds))} ` +
    `acquire_p50_us=${Math.round(p50 * 1000)} acquire_p99_us=${Math.round(p99 * 1000)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
