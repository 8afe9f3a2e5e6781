// Real dlockd processes for the tests, on 127.0.0.1 with ephemeral ports
// and a temporary directory each, stopped by their pid: $DLOCKD, default
// the repository's build/dlockd.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function ask(addr, args) {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let buf = "";
    s.setTimeout(1000, () => { s.destroy(); resolve(null); });
    s.on("error", () => resolve(null));
    s.on("connect", () => s.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")));
    s.on("data", (d) => { buf += d; if (buf.includes("\r\n")) { s.destroy(); resolve(buf); } });
  });
}

function accepts(addr) {
  const i = addr.lastIndexOf(":");
  return new Promise((resolve) => {
    const s = net.connect({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)) });
    s.on("connect", () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
  });
}

async function start(n, extra = []) {
  const tls = extra.includes("--tls-cert-file");
  const bin = path.resolve(process.env.DLOCKD || path.join(__dirname, "..", "..", "..", "build", "dlockd"));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dlock-node-"));
  const ports = [], raft = [];
  for (let i = 0; i < n; i++) { ports.push(await freePort()); raft.push(await freePort()); }
  const peers = raft.map((p, i) => `${i + 1}=127.0.0.1:${p}`).join(",");
  const procs = ports.map((p, i) => {
    const args = ["--id", String(i + 1), "--listen", `127.0.0.1:${p}`, "--raft", `127.0.0.1:${raft[i]}`,
      "--data", path.join(dir, `n${i + 1}`), "--election-ms", "300", "--heartbeat-ms", "30", "--log-level", "warn",
      "--http", "off", ...(n > 1 ? ["--peers", peers] : []), ...extra];
    const log = fs.openSync(path.join(dir, `n${i + 1}.log`), "a");
    return spawn(bin, args, { stdio: ["ignore", log, log] });
  });
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const s = {
    addrs, procs, dir,
    async leader() {
      const end = Date.now() + 15000;
      while (Date.now() < end) {
        for (let i = 0; i < n; i++) {
          if (procs[i].exitCode !== null || procs[i].signalCode !== null) continue;
          const r = await ask(addrs[i], ["LOCK.STATUS", "leader-probe"]);
          if (r && r.startsWith("*")) return i;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("no leader");
    },
    kill(i) { procs[i].kill("SIGKILL"); },
    signal(i, sig) { procs[i].kill(sig); },
    stop() {
      for (const p of procs) { try { p.kill("SIGCONT"); p.kill("SIGTERM"); } catch (e) { /* gone */ } }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  for (const a of addrs) {
    const end = Date.now() + 15000;
    while (tls ? !(await accepts(a)) : (await ask(a, ["PING"])) !== "+PONG\r\n") {
      if (Date.now() > end) throw new Error(`dlockd at ${a} did not start`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  if (!tls) await s.leader();
  return s;
}

module.exports = { start, freePort };
