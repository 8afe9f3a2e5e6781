"""test_contrib.py - contrib/: the Prometheus alerting rules pass promtool's
checks and their own unit tests, each alert is documented and tested both
ways, the Grafana dashboard is well formed and its queries parse, and every
metric name the dashboard, the rules, their tests and contrib/README.md
name is one that a live 3-server cluster serves at /metrics, so that the
names cannot drift from src/server/metrics.c unnoticed."""

import json
import os
import re
import shutil
import subprocess
import urllib.request

import dlocktest
from dlocktest import check, eq, wait_for

CONTRIB = os.path.join(dlocktest.ROOT, "contrib")
PROM_DIR = os.path.join(CONTRIB, "prometheus")
RULES = os.path.join(PROM_DIR, "dlock-alerts.yml")
RULE_TESTS = os.path.join(PROM_DIR, "dlock-alerts.test.yml")
SCRAPE_CONFIG = os.path.join(PROM_DIR, "prometheus.yml")
DASHBOARD = os.path.join(CONTRIB, "grafana", "dlock-dashboard.json")
README = os.path.join(CONTRIB, "README.md")

# A metric name of dlockd's: dlock_* and the process_* it serves.
METRIC_NAME = re.compile(r"\b(?:dlock|process)_[a-z0-9_]*[a-z0-9]\b")
HISTOGRAM_SUFFIX = re.compile(r"_(?:bucket|sum|count)$")
# What a dashboard query may hold besides PromQL: Grafana's variables.
DASHBOARD_VARS = {"$instance": ".+", "$__rate_interval": "1m"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def promtool():
    p = shutil.which("promtool")
    if p is None:
        raise dlocktest.Skip("no promtool command (Debian's prometheus package; "
                             "scripts/deps.sh installs it)")
    return p


def run_promtool(*args, cwd=PROM_DIR):
    r = subprocess.run([promtool()] + list(args), capture_output=True, text=True,
                       timeout=120, cwd=cwd)
    check(r.returncode == 0, "promtool %s: exit code %d\n%s%s"
          % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r.stdout


def alert_blocks(text):
    """{alert name: its text} of a rules file: each from its "- alert:"
    line to the next rule (the files here have alerting rules only)."""
    parts = re.split(r"(?m)^\s*- alert:\s*", text)[1:]
    out = {}
    for p in parts:
        name = p.split(None, 1)[0]
        check(name not in out, "alert %s defined twice" % name)
        out[name] = p
    return out


def panels_of(panels):
    """Every panel, those inside rows included."""
    for p in panels:
        yield p
        yield from panels_of(p.get("panels", []))


def dashboard_queries(dash):
    """(panel title, expr) of every query of every panel that is no row."""
    out = []
    for p in panels_of(dash["panels"]):
        if p.get("type") != "row":
            out += [(p.get("title"), t.get("expr", "")) for t in p.get("targets", [])]
    return out


def as_promql(expr):
    """A dashboard query with Grafana's variables put in: PromQL."""
    for var, value in DASHBOARD_VARS.items():
        expr = expr.replace(var, value)
    check("$" not in expr, "a query uses a variable this test does not know: %r" % expr)
    return expr


def served(text):
    """(metric families by type, names of samples) of a /metrics text."""
    types, samples = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return types, samples


def is_served(name, types, samples):
    """Whether name is a family or a sample served; a histogram's series
    (_bucket, _sum, _count) count as their family's."""
    if name in types or name in samples:
        return True
    base = HISTOGRAM_SUFFIX.sub("", name)
    return base != name and types.get(base) == "histogram"


def metrics_with(port, text, what):
    """The /metrics of the server whose HTTP port is port, once it holds
    text."""
    def get():
        with urllib.request.urlopen("http://%s:%d/metrics" % (dlocktest.HOST, port),
                                    timeout=5) as r:
            body = r.read().decode("utf-8")
        return body if text in body else None
    return wait_for(get, 10, what)


def test_alert_rules_pass_promtool(ctx):
    """promtool check rules and check config (prometheus.yml, which loads the
    rules) find nothing wrong, and promtool test rules passes every case of
    dlock-alerts.test.yml."""
    out = run_promtool("check", "rules", RULES)
    check("SUCCESS" in out, "promtool check rules: %s" % out)
    run_promtool("check", "config", SCRAPE_CONFIG)
    out = run_promtool("test", "rules", RULE_TESTS)
    check("SUCCESS" in out and "FAILED" not in out, "promtool test rules: %s" % out)


def test_dashboard_queries_parse(ctx):
    """Every query of the dashboard, its variables put in, is PromQL that
    promtool accepts (as the expression of a recording rule)."""
    promtool()
    queries = dashboard_queries(json.loads(read(DASHBOARD)))
    check(queries, "the dashboard has no queries")
    rules = [{"record": "dashboard:query_%d" % i, "expr": as_promql(e)}
             for i, (_, e) in enumerate(queries)]
    path = os.path.join(ctx.dir, "dashboard-queries.yml")
    with open(path, "w") as f:  # JSON is YAML
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, indent=1)
    out = run_promtool("check", "rules", path, cwd=ctx.dir)
    check("SUCCESS: %d rules found" % len(rules) in out, "promtool check rules: %s" % out)


def test_every_alert_has_for_severity_annotations_tests_and_a_runbook(ctx):
    """Each alert has a for:, a severity label (critical or warning), a
    summary and a description; the unit tests evaluate it at least once
    firing and once quiet; contrib/README.md names it."""
    alerts = alert_blocks(read(RULES))
    check(len(alerts) >= 10, "alerts found: %r" % sorted(alerts))
    tests = read(RULE_TESTS)
    readme = read(README)
    firing, quiet = set(), set()
    for m in re.finditer(r"alertname:\s*(\w+)\s*\n\s*exp_alerts:\s*(\[\])?", tests):
        (quiet if m.group(2) else firing).add(m.group(1))
    for name, block in alerts.items():
        check(re.search(r"(?m)^\s+for:\s*\d+[smh]", block), "%s: no for:" % name)
        check(re.search(r"(?m)^\s+severity:\s*(critical|warning)\s*$", block),
              "%s: no severity label (critical or warning)" % name)
        check(re.search(r"(?m)^\s+summary:\s*\S", block), "%s: no summary" % name)
        check(re.search(r"(?m)^\s+description:\s*\S", block), "%s: no description" % name)
        check(name in firing, "%s: no unit test where it fires" % name)
        check(name in quiet, "%s: no unit test where it stays quiet" % name)
        check(name in readme, "%s: not in contrib/README.md" % name)
    eq(sorted((firing | quiet) - set(alerts)), [], "alerts tested that the rules lack")


def test_dashboard_and_rules_name_only_served_metrics(ctx):
    """The dashboard parses; its data source is a variable of type
    datasource (prometheus) and its instance variable is a multi-value
    query of label_values(dlock_server_id, instance); every panel but the
    rows has that data source and at least one query, and every query
    names a metric. Then a 3-server cluster, each server with --http,
    takes and releases a lock; every dlock_* and process_* name in the
    dashboard, the rules, their tests and contrib/README.md is served at
    /metrics by one of the servers (peer lag only by the leader), and
    exactly one of them says it is the serving leader, which the
    dashboard's and the rules' leader-only queries rely on."""
    dash = json.loads(read(DASHBOARD))
    check(dash.get("schemaVersion", 0) >= 36, "schemaVersion %r" % dash.get("schemaVersion"))
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables.get("DS_PROMETHEUS")
    check(ds is not None and ds["type"] == "datasource" and ds["query"] == "prometheus",
          "no datasource variable DS_PROMETHEUS of prometheus: %r" % ds)
    inst = variables.get("instance")
    check(inst is not None and inst["type"] == "query" and inst.get("multi"),
          "no multi-value query variable instance: %r" % inst)
    q = inst["query"]["query"] if isinstance(inst["query"], dict) else inst["query"]
    eq(q, "label_values(dlock_server_id, instance)", "the instance variable's query")
    ids = [p["id"] for p in panels_of(dash["panels"])]
    eq(len(ids), len(set(ids)), "panel ids are unique")
    for p in panels_of(dash["panels"]):
        if p.get("type") == "row":
            continue
        title = p.get("title")
        eq(p.get("datasource", {}).get("uid"), "${DS_PROMETHEUS}", "%r: data source" % title)
        check(p.get("targets"), "%r: no query" % title)
        for t in p["targets"]:
            check(METRIC_NAME.search(t.get("expr", "")),
                  "%r: a query that names no metric: %r" % (title, t.get("expr")))
            eq(t.get("datasource", {}).get("uid"), "${DS_PROMETHEUS}",
               "%r: a query's data source" % title)

    cl = dlocktest.Cluster(ctx, 3)
    http = {}
    for s in cl.servers:
        http[s.id] = dlocktest.free_port()
        s.extra += ["--http", "%s:%d" % (dlocktest.HOST, http[s.id])]
    cl.start()
    leader = cl.wait_leader()
    c = leader.client()
    session = c.call("SESSION.OPEN", 10000)
    c.call("LOCK.ACQUIRE", "contrib-metrics", session)
    eq(c.call("LOCK.RELEASE", "contrib-metrics", session), 0, "holds left")
    c.call("SESSION.CLOSE", session)
    texts = {}
    for s in cl.servers:
        texts[s.id] = metrics_with(http[s.id], 'dlock_releases_total{kind="lock"} 1\n',
                                   "dlockd %d's /metrics to count the release" % s.id)
    texts[leader.id] = metrics_with(http[leader.id], "dlock_raft_peer_last_contact_seconds{",
                                    "the leader's /metrics to show its peers")
    types, samples = {}, set()
    for sid, text in texts.items():
        t, s = served(text)
        types.update(t)
        samples |= s
    leaders = [sid for sid, text in texts.items()
               if re.search(r"(?m)^dlock_raft_is_leader 1$", text)]
    eq(leaders, [leader.id], "servers whose dlock_raft_is_leader is 1")

    named = {}
    sources = {"the dashboard": read(DASHBOARD), "dlock-alerts.yml": read(RULES),
               "dlock-alerts.test.yml": read(RULE_TESTS), "contrib/README.md": read(README)}
    for where, text in sources.items():
        for name in METRIC_NAME.findall(text):
            named.setdefault(name, where)
    check(len(named) >= 30, "metric names found: %r" % sorted(named))
    unknown = sorted("%s (%s)" % (n, w) for n, w in named.items()
                     if not is_served(n, types, samples))
    eq(unknown, [], "metric names not served at /metrics")
