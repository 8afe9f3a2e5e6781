"use strict";
const test = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");
const { Client, ServerError, LockLostError, UnavailableError } = require("../dist");
const { start, freePort } = require("./servers");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("a try-lock, its token, another client held off", async (t) => {
  const s = await start(1);
  t.after(() => s.stop());
  const a = new Client({ servers: s.addrs[0], sessionTtlMs: 2000 });
  const b = new Client({ servers: s.addrs[0], sessionTtlMs: 2000 });
  const l = await a.lock("t");
  assert.ok(l.token >= 1 && l.safeUntil > performance.now());
  await assert.rejects(b.lock("t"), (e) => e instanceof ServerError && e.code === "HELD" && e.holder > 0);
  await l.release();
  const l2 = await b.lock("t");
  assert.ok(l2.token > l.token);
  await l2.release();
  await a.close();
  await b.close();
});

test("a waiter is handed the lock; using() gives a signal", async (t) => {
  const s = await start(1);
  t.after(() => s.stop());
  const a = new Client({ servers: s.addrs[0], sessionTtlMs: 2000 });
  const b = new Client({ servers: s.addrs[0], sessionTtlMs: 2000 });
  const held = await a.lock("hot");
  const waiting = b.lock("hot", { waitMs: 5000 });
  await sleep(300);
  await held.release();
  const got = await waiting;
  assert.ok(got.token > held.token);
  await got.release();
  const r = await a.using("job", {}, async (signal, lock) => {
    assert.strictEqual(signal.aborted, false);
    return lock.token;
  });
  assert.ok(r >= 1);
  await a.close();
  await b.close();
});

test("told when lost: the signal aborts, release rejects", async (t) => {
  const s = await start(1);
  t.after(() => s.stop());
  const c = new Client({ servers: s.addrs[0], sessionTtlMs: 2000 });
  const sess = await c.openSession(2000);
  const l = await sess.lock("lost");
  const aborted = new Promise((r) => l.signal.addEventListener("abort", r, { once: true }));
  await c.execute(["SESSION.CLOSE", sess.id]);
  await Promise.race([aborted, sleep(3000).then(() => assert.fail("not told"))]);
  assert.strictEqual(l.safeUntil, 0);
  assert.ok(l.signal.reason instanceof LockLostError);
  await assert.rejects(l.release(), LockLostError);
  await c.close();
});

test("lost when the server is paused past the lease", async (t) => {
  const s = await start(1);
  t.after(() => s.stop());
  const c = new Client({ servers: s.addrs[0], sessionTtlMs: 1000, timeoutMs: 1000 });
  const l = await c.lock("paused");
  s.signal(0, "SIGSTOP");
  const aborted = new Promise((r) => l.signal.addEventListener("abort", r, { once: true }));
  await Promise.race([aborted, sleep(3000).then(() => assert.fail("not told"))]);
  s.signal(0, "SIGCONT");
  await c.close();
});

test("shared locks, semaphores, elections", async (t) => {
  const s = await start(1);
  t.after(() => s.stop());
  const c = new Client({ servers: s.addrs[0], sessionTtlMs: 2000 });
  const s1 = await c.openSession(2000), s2 = await c.openSession(2000);
  const r1 = await s1.lock("prices", { shared: true }), r2 = await s2.lock("prices", { shared: true });
  await assert.rejects(c.lock("prices"), (e) => e.code === "HELD");
  await r1.release();
  await r2.release();
  const w = await c.lock("prices");
  await w.downgrade();
  assert.strictEqual((await c.lockStatus("prices")).mode, "shared");
  await w.release();
  const p = await s1.acquire("slots", 2, 2);
  await assert.rejects(s2.acquire("slots", 2, 1), (e) => e.code === "HELD");
  await assert.rejects(s2.acquire("slots", 3, 1), (e) => e.code === "KIND");
  await p.release();
  const lead = await s1.campaign("primary", "a");
  await lead.proclaim("b");
  assert.strictEqual((await c.leaderOf("primary")).value, "b");
  await lead.resign();
  await assert.rejects(lead.proclaim("late"), LockLostError);
  await c.close();
});

test("a held lock and a wait across a leader kill", async (t) => {
  const s = await start(3);
  t.after(() => s.stop());
  const leader = await s.leader();
  const order = [s.addrs[(leader + 1) % 3], s.addrs[leader], s.addrs[(leader + 2) % 3]].join(",");
  const a = new Client({ servers: order, sessionTtlMs: 3000 });
  const b = new Client({ servers: order, sessionTtlMs: 3000 });
  const held = await a.lock("across");
  assert.strictEqual(a.lastServer, s.addrs[leader]);
  const waiting = b.lock("across", { waitMs: 20000 });
  await sleep(500);
  s.kill(leader);
  await s.leader();
  assert.strictEqual((await a.lockStatus("across")).token, held.token);
  await sleep(1500);
  assert.strictEqual(held.lost, false);
  await held.release();
  const got = await waiting;
  assert.ok(got.token > held.token);
  await got.release();
  await a.close();
  await b.close();
});

test("watches: every change in order, from now or after a revision", async (t) => {
  const s = await start(1);
  t.after(() => s.stop());
  const c = new Client({ servers: s.addrs[0], sessionTtlMs: 2000 });
  const w = await c.watch("w");
  const l = await c.lock("w");
  await l.release();
  const g = await w.next();
  const r = await w.next();
  assert.deepStrictEqual([g.event, g.token, r.event, r.holders], ["granted", l.token, "released", 0]);
  assert.ok(r.revision > g.revision);
  const again = await c.watch("w", g.revision - 1);
  for await (const ch of again) {
    assert.strictEqual(ch.revision, g.revision);
    break;
  }
  await c.close();
});

test("observe: an election's leader, first as read, then at each change", async (t) => {
  const s = await start(1);
  t.after(() => s.stop());
  const c = new Client({ servers: s.addrs[0], sessionTtlMs: 2000 });
  const ac = new AbortController();
  const it = c.observe("primary", ac.signal);
  assert.strictEqual((await it.next()).value.session, 0);
  const sess = await c.openSession(2000);
  const lead = await sess.campaign("primary", "a");
  await lead.proclaim("b");
  await lead.resign();
  const seen = [];
  for (let i = 0; i < 3; i++) seen.push((await it.next()).value);
  assert.deepStrictEqual(seen, [{ session: sess.id, token: lead.token, value: "a" },
    { session: sess.id, token: lead.token, value: "b" }, { session: 0, token: 0, value: "" }]);
  ac.abort();
  await c.close();
});

test("TLS with certificates made by openssl, and a login", async (t) => {
  const { execFileSync } = require("node:child_process");
  const os = require("node:os");
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "dlock-pki-"));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  const p = (n) => path.join(d, n);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc"];
  const ssl = (args) => execFileSync("openssl", args, { stdio: "ignore" });
  ssl(["req", "-x509", "-new", ...ec, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "30", "-subj", "/CN=ca"]);
  const cert = (name, usage, san) => ssl(["req", "-x509", "-new", ...ec, "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
    "-days", "30", "-subj", `/CN=${name}`, "-addext", "basicConstraints=critical,CA:FALSE",
    "-addext", `subjectAltName=${san}`, "-addext", `extendedKeyUsage=${usage}`,
    "-keyout", p(`${name}.key`), "-out", p(`${name}.crt`)]);
  cert("server", "serverAuth,clientAuth", "DNS:localhost,IP:127.0.0.1");
  cert("alice", "clientAuth", "DNS:alice");
  fs.writeFileSync(p("users"), "admin PASSWORD adminpw ALLOW all ADMIN *\n");
  const s = await start(1, ["--tls-cert-file", p("server.crt"), "--tls-key-file", p("server.key"),
    "--tls-ca-cert-file", p("ca.crt"), "--users-file", p("users"), "--password-iterations", "1000"]);
  t.after(() => s.stop());
  const opts = { servers: s.addrs[0], timeoutMs: 5000, tlsCa: p("ca.crt"), tlsCert: p("alice.crt"), tlsKey: p("alice.key"), user: "admin" };
  const c = new Client({ ...opts, password: "adminpw" });
  // The users of --users-file are set once the server leads: until then a login is refused.
  for (let end = Date.now() + 10000; Date.now() < end; await sleep(50)) {
    try { await c.lockStatus("secure"); break; } catch (e) { if (e.code !== "WRONGPASS") throw e; }
  }
  const l = await c.lock("secure");
  assert.ok(l.token >= 1);
  await l.release();
  await c.close();
  const bad = new Client({ ...opts, password: "wrong" });
  await assert.rejects(bad.lockStatus("secure"), (e) => e.code === "WRONGPASS");
  await bad.close();
});

test("nothing listening is said at once", async () => {
  const port = await freePort();
  const c = new Client({ servers: `127.0.0.1:${port}` });
  const t0 = Date.now();
  await assert.rejects(c.lockStatus("x"), (e) => e instanceof UnavailableError && /nothing is listening/.test(e.message));
  assert.ok(Date.now() - t0 < 2000);
  assert.throws(() => new Client({ servers: "no-port" }));
});

test("the README's job example runs once across instances", async (t) => {
  const s = await start(1);
  t.after(() => s.stop());
  const text = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  const code = text.slice(text.indexOf("## A job that runs at most once")).split("```js\n")[1].split("```")[0];
  const make = new Function("buildReport", `${code}\nreturn nightlyReport;`);
  let release;
  const nightlyReport = make((token, signal) => new Promise((r) => { release = () => r(token); }));
  const a = new Client({ servers: s.addrs[0] }), b = new Client({ servers: s.addrs[0] });
  const first = nightlyReport(a);
  await sleep(300);
  assert.strictEqual(await nightlyReport(b), null); // held: skipped
  release();
  assert.ok((await first) >= 1);
  await a.close();
  await b.close();
});

test("the READMEs' example runs as printed", async (t) => {
  const s = await start(1);
  t.after(() => s.stop());
  for (const [file, heading] of [[path.join(__dirname, "..", "README.md"), "# dlock for Node.js"],
    [path.join(__dirname, "..", "..", "..", "README.md"), "## A lock in Node.js"]]) {
    const text = fs.readFileSync(file, "utf8");
    const code = text.slice(text.indexOf(heading)).split("```js\n")[1].split("```")[0];
    const sent = [];
    const run = new Function("require", "sendGreetings", `return (async () => {\n${code.replace("127.0.0.1:7411", s.addrs[0])}\n})();`);
    await run((m) => require(m === "dlock" ? "../dist" : m), async (token) => sent.push(token));
    assert.ok(sent.length === 1 && sent[0] >= 1, file);
  }
});
