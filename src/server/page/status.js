// The status page: reads /status.json every second and draws it. Text goes
// in with textContent only (names are anyone's bytes).
"use strict";

const POINTS = 120;
const series = { grants: [], commitMean: [], commitP99: [] };
let last = null;

function $(id) { return document.getElementById(id); }

function ms(v) {
  if (v === null || v === undefined) return "–";
  if (v < 1000) return v + " ms";
  if (v < 120000) return (v / 1000).toFixed(1) + " s";
  if (v < 7200000) return (v / 60000).toFixed(1) + " min";
  return (v / 3600000).toFixed(1) + " h";
}

function fill(tbody, rows) {
  tbody.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    if (row.cls) tr.className = row.cls;
    for (const cell of row.cells) {
      const td = document.createElement("td");
      if (typeof cell === "object" && cell !== null) {
        td.textContent = cell.text;
        if (cell.cls) td.className = cell.cls;
        if (cell.title) td.title = cell.title;
      } else {
        td.textContent = cell === undefined || cell === null ? "–" : String(cell);
      }
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
}

// The quantile q of what a histogram counted between two reads: the upper
// bound of the bucket it falls in (us).
function quantile(now, before, q) {
  const counts = now.counts.map((c, i) => c - (before ? before.counts[i] : 0));
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= q * total) return i < now.bounds.length ? now.bounds[i] : now.bounds[now.bounds.length - 1];
  }
  return null;
}

function push(name, v) {
  const s = series[name];
  s.push(v);
  if (s.length > POINTS) s.shift();
}

function chart(canvas, lines) {
  const g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  g.clearRect(0, 0, w, h);
  let max = 1;
  for (const l of lines) for (const v of l.data) if (v !== null && v > max) max = v;
  g.strokeStyle = "#e5e7eb";
  g.fillStyle = "#6b7280";
  g.font = "11px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = h - pad / 2 - (h - pad) * i / 4;
    g.beginPath(); g.moveTo(pad + 10, y); g.lineTo(w, y); g.stroke();
    const label = max * i / 4;
    g.fillText(label >= 100 ? label.toFixed(0) : label.toFixed(label >= 10 ? 1 : 2), 2, y + 4);
  }
  for (const l of lines) {
    g.strokeStyle = l.color;
    g.lineWidth = 2;
    g.beginPath();
    let started = false;
    l.data.forEach((v, i) => {
      if (v === null) { started = false; return; }
      const x = pad + 10 + (w - pad - 10) * i / (POINTS - 1);
      const y = h - pad / 2 - (h - pad) * v / max;
      if (started) g.lineTo(x, y); else { g.moveTo(x, y); started = true; }
    });
    g.stroke();
  }
}

function draw(s) {
  const srv = s.server, raft = s.raft;
  $("server").textContent = "server " + srv.id + " · " + srv.role + " · " + srv.listen + " · v" + srv.version;
  const ready = $("ready");
  ready.textContent = srv.ready ? "ready" : "not ready";
  ready.className = "badge " + (srv.ready ? "ok" : "bad");
  ready.title = srv.ready_why;
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  $("raft").textContent = "term " + raft.term + " · leader " + (raft.leader || "none") +
    (raft.leader_addr ? " (" + raft.leader_addr + ")" : "") + " · commit " + raft.commit_index +
    " · applied " + raft.applied_index + " · leader changes seen " + raft.leader_changes +
    " · " + srv.ready_why;
  fill($("members").tBodies[0], s.members.map(m => ({
    cls: m.role === "leader" ? "leader" : "",
    cells: [m.id + (m.self ? " (this)" : ""), m.role, m.client_addr || "–", m.raft_addr,
            m.match, m.lag, m.self ? "–" : ms(m.last_contact_ms)],
  })));
  $("state").textContent = s.state.names + " names · " + s.state.holds + " holds · " +
    s.state.waiters + " waiting · " + s.state.sessions + " sessions · last token " + s.state.last_token;
  fill($("busiest").tBodies[0], s.busiest.map(b => ({
    cells: [{ text: b.name, cls: "name", title: b.name }, b.kind + (b.permits ? " " + b.used + "/" + b.permits : ""),
            b.mode, b.session, b.owner === "" ? "–" : b.owner, b.token, ms(b.held_ms), b.waiters,
            b.waiters ? ms(b.longest_wait_ms) : "–"],
  })));
  $("busiest-empty").hidden = s.busiest.length > 0;
  fill($("expiring").tBodies[0], s.expiring.map(e => ({
    cells: [e.session + (e.lease_lock ? " (lease lock)" : ""), e.client || "–", e.user || "–",
            ms(e.left_ms), ms(e.ttl_ms), e.holds, e.waits],
  })));
  const note = $("expiring-note");
  note.hidden = srv.role === "leader";
  note.textContent = "Leases are kept by the leader" + (raft.leader_addr ? " (" + raft.leader_addr + ")" : "") +
    ": its page lists them.";
  if (last !== null) {
    const dt = Math.max(0.001, (performance.now() - last.at) / 1000);
    const grants = (s.counters.grants - last.s.counters.grants) / dt;
    push("grants", grants);
    const now = s.counters.commit_us, before = last.s.counters.commit_us;
    const n = now.count - before.count;
    push("commitMean", n > 0 ? (now.sum - before.sum) / n / 1000 : null);
    const p99 = quantile(now, before, 0.99);
    push("commitP99", p99 === null ? null : p99 / 1000);
    $("grants-now").textContent = grants.toFixed(0) + "/s";
    $("commit-now").textContent = n > 0 ? "mean " + ((now.sum - before.sum) / n / 1000).toFixed(2) +
      " ms, p99 ≤ " + (p99 / 1000).toFixed(2) + " ms" : "no commits";
  }
  chart($("grants-chart"), [{ data: series.grants, color: "#2563eb" }]);
  chart($("commit-chart"), [{ data: series.commitMean, color: "#15803d" },
                           { data: series.commitP99, color: "#d97706" }]);
  last = { s, at: performance.now() };
}

async function refresh() {
  try {
    const r = await fetch("/status.json", { cache: "no-store" });
    if (!r.ok) throw new Error("GET /status.json: " + r.status);
    draw(await r.json());
    $("error").hidden = true;
  } catch (e) {
    const err = $("error");
    err.textContent = "The server does not answer: " + e.message;
    err.hidden = false;
  }
  setTimeout(refresh, 1000);
}

refresh();
