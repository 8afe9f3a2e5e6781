"""transcripts.py - the examples of the docs, run exactly as a reader types
them.

An example is a transcript in an indented block of a Markdown file. A line
"$ COMMAND" is what the reader types (it goes on over the next lines while
bash finds the command incomplete: an open loop, a trailing backslash), and
the lines after it are exactly what it prints. In a block, a line "# ..."
is narration, not output:

- right after a command, it says what the command prints instead of
  showing it: then the command must exit 0 and print no error line;
- one that says "another terminal" leaves the command before it running
  (a blocking acquire: the next command is typed once a server has queued
  it) and runs the commands after it in a second terminal, as the reader
  would; at the next "# ..." line the output of the command left running
  follows, and it must end there.

Printed values that vary: a lease_left_ms is compared as an integer in
(0, the printed value], the printed value being the full TTL. A doc whose
samples' numbers vary (docs/cli.md says so) is compared with every number
and run of blanks made alike; its host is named vm, as in its samples.

The examples of one section ("## ...") run in order in one terminal: a bash
that runs each command's text as it is printed (eval), keeping variables,
functions and background jobs from one command to the next, with stdout and
stderr on a pseudo-terminal (so redis-cli prints what a person at a terminal
sees). Its directory has build/dlockd and build/dlock (the binaries under
test: $DLOCKD, $DLOCK) and `dlock` is on its PATH. A fresh default server
runs meanwhile: build/dlockd with no options, as ./start.sh runs it
(127.0.0.1:7411, its data in an empty ./dlock-data). Before each command
the servers running settle, as they would while a person types (Settler).

All of it runs in private network, mount, host name and pid namespaces
(`unshare`):
the fixed ports the docs print are free whatever runs on this machine, /tmp
is a directory of the test's own (kept with the test's files when it fails),
and whatever is still running when the section ends is reported, killed by
its pid, and could not outlive the namespace anyway. Without namespaces
(unshare missing or not permitted) the test reports SKIPPED and why.
"""

import ctypes
import fcntl
import importlib
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time

import dlocktest
from dlocktest import TestFailure, check

HERE = os.path.dirname(os.path.abspath(__file__))
PROMPT = "$ "
INDENT = "    "
DEFAULT_ADDR = "127.0.0.1:7411"
HOSTNAME = "vm"  # the host's name in the docs' samples
COMMAND_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 20.0


# ---- parsing -------------------------------------------------------------------


class Example:
    """One command of a transcript: its text (as typed, maybe over several
    lines), the line of the doc it starts on, the lines it prints (None:
    described by narration, not shown), the terminal it runs in (0 or 1),
    and, for a command left running, after which example it ends."""

    def __init__(self, text, line, terminal):
        self.text = text
        self.line = line
        self.output = []
        self.terminal = terminal
        self.left_running = False
        self.ends_after = None

    def __repr__(self):
        return "Example(%r, line %d)" % (self.text, self.line)


def incomplete(text):
    """Whether bash would ask for more: a trailing backslash, an open
    quote, loop or substitution."""
    if text.rstrip().endswith("\\"):
        return True
    r = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
    return r.returncode != 0 and ("unexpected end of file" in r.stderr or
                                  "unexpected EOF" in r.stderr)


def parse(path):
    """[(section title, [Example])] for every section of the Markdown file
    at path with a transcript, in order."""
    with open(path) as f:
        lines = f.read().split("\n")
    sections = []
    title, examples = None, []
    current = running = None
    terminal = 0
    i = 0
    while i < len(lines):
        line, no = lines[i], i + 1
        i += 1
        if line.startswith("## "):
            if examples:
                sections.append((title, examples))
            title, examples = line[3:].strip(), []
            current = running = None
            terminal = 0
            continue
        if not line.strip() and current is not None and current.output and \
                i < len(lines) and lines[i].startswith(INDENT) and \
                not lines[i][len(INDENT):].startswith(PROMPT):
            current.output.append("")  # a blank line within an output
            continue
        if not line.startswith(INDENT):
            current = None  # a block ends
            continue
        body = line[len(INDENT):]
        if body.startswith(PROMPT):
            text = body[len(PROMPT):]
            while incomplete(text) and i < len(lines) and lines[i].startswith(INDENT):
                text += "\n" + lines[i][len(INDENT):]
                i += 1
            current = Example(text, no, terminal)
            examples.append(current)
        elif current is None and running is None:
            continue  # a block that is not a transcript (code, a crontab line)
        elif body.lstrip().startswith("#"):
            if current is not None and current.output == [] and "another terminal" in body:
                current.left_running = True
                running, current, terminal = current, None, 1
            elif current is not None and current.output == []:
                current.output = None
                current = None
            elif running is not None:
                running.ends_after = len(examples) - 1
                current, running, terminal = running, None, 0
            else:
                current = None
        elif current is not None and current.output is not None:
            current.output.append(body)
        else:
            raise ValueError("%s:%d: output after narration, of no command" % (path, no))
    if examples:
        sections.append((title, examples))
    for t, exs in sections:
        for e in exs:
            if e.left_running and e.ends_after is None:
                raise ValueError("%s:%d: a command left running whose output never comes"
                                 % (path, e.line))
    return sections


def section(path, title):
    """The examples of the section titled title in path."""
    for t, examples in parse(path):
        if t == title:
            return examples
    raise TestFailure("%s: no section %r with examples" % (path, title))


def section_tests(path, prefix, numbers_vary=False):
    """{name: test} for a test module: one test per section of path with
    examples (prefix and its title make the name), which runs the section
    in a namespace; one failing test if path cannot be read as transcripts."""
    try:
        titles = [t for t, _ in parse(path)]
    except ValueError as e:
        def unreadable(ctx, why=str(e)):
            raise TestFailure(why)
        return {prefix + "examples_readable": unreadable}

    def section_test(title):
        def test(ctx):
            isolated(ctx, run_section, path, title, numbers_vary)
        return test
    return {prefix + re.sub(r"[^a-z0-9]+", "_", t.lower()).strip("_"): section_test(t)
            for t in titles}


# ---- comparing -----------------------------------------------------------------

# The printed value of a varying field is the line after its name.
VARYING = re.compile(r'^(\s*\d+\) )"lease_left_ms"$')
INTEGER = re.compile(r"^(\s*\d+\) )\(integer\) (\d+)$")
# What bash says when a background job dies by SIGKILL (an example's kill -9).
JOB_KILLED = re.compile(r"^bash: (line \d+: )?\s*\d+ Killed\b")
# Lines that say a command failed, whatever it was.
ERROR_LINE = re.compile(r"^\(error\) |^Could not connect|^bash: |: command not found$|^dlock \w+: ")


def numbers_out(line):
    """A line with its numbers and its runs of blanks made alike."""
    return " ".join(re.sub(r"[0-9]+(\.[0-9]+)?", "0", line).split())


def compare(expected, actual, numbers_vary=False):
    """None if actual matches expected, else a description of the first
    difference. With numbers_vary, lines that differ in their numbers and
    spacing alone match."""
    if numbers_vary:
        expected = [numbers_out(l) for l in expected]
        actual = [numbers_out(l) for l in actual]
    if len(expected) != len(actual):
        return "expected %d lines, got %d" % (len(expected), len(actual))
    varying_next = False
    for i, (e, a) in enumerate(zip(expected, actual)):
        if varying_next:
            me, ma = INTEGER.match(e), INTEGER.match(a)
            if me and ma and me.group(1) == ma.group(1) and 0 < int(ma.group(2)) <= int(me.group(2)):
                varying_next = False
                continue
            return "line %d: expected an integer in (0, %s] as %r, got %r" % (
                i + 1, me.group(2) if me else "?", e, a)
        if e != a:
            return "line %d: expected %r, got %r" % (i + 1, e, a)
        varying_next = bool(VARYING.match(e))
    return None


def check_example(path, ex, actual, status, numbers_vary=False):
    """Fails unless what ex printed (actual lines, exit status) is what the
    doc at path says."""
    where = "%s:%d `%s`" % (os.path.relpath(path, dlocktest.ROOT), ex.line, ex.text)
    shown = "\n".join("    | " + l for l in actual)
    dlocktest.no_sanitizer_report("\n".join(actual), where)
    if ex.output is None:
        bad = [l for l in actual if ERROR_LINE.search(l)]
        check(status == 0 and not bad, "%s: exit status %d, output:\n%s" % (where, status, shown))
        return
    diff = compare(ex.output, actual, numbers_vary)
    if diff is not None:
        raise TestFailure("%s: %s\n  expected:\n%s\n  actual:\n%s" % (
            where, diff, "\n".join("    | " + l for l in ex.output), shown))


# ---- a terminal ----------------------------------------------------------------

# Reads NUL-ended commands from fd 3, evals each as typed (stdin /dev/null),
# then writes its exit status between two RS bytes.
LOOP = ('exec 3<&0 0</dev/null\n'
        'while IFS= read -r -d "" __cmd <&3; do\n'
        '  eval "$__cmd"\n'
        '  printf "\\036%d\\036" "$?"\n'
        'done\n')
END = re.compile(rb"\x1e(\d+)\x1e")


class Terminal:
    """A bash a reader types into, its output on a pseudo-terminal."""

    def __init__(self, cwd, env):
        self.master, slave = pty.openpty()
        try:
            self.proc = subprocess.Popen(["bash", "--norc", "--noprofile", "-c", LOOP],
                                         stdin=subprocess.PIPE, stdout=slave, stderr=slave,
                                         cwd=cwd, env=env, preexec_fn=dlocktest._die_with_parent)
        finally:
            os.close(slave)
        self.buf = b""
        self.busy = None

    def start(self, text):
        """Types text; does not wait for it to end."""
        check(self.busy is None, "a terminal is still running %r" % self.busy)
        self.busy = text
        self.proc.stdin.write(text.encode() + b"\0")
        self.proc.stdin.flush()

    def finish(self, timeout=COMMAND_TIMEOUT_S):
        """Waits for the command typed last to end; returns (its output
        lines, its exit status)."""
        deadline = time.monotonic() + timeout
        while True:
            m = END.search(self.buf)
            if m:
                out, self.buf = self.buf[:m.start()], self.buf[m.end():]
                self.busy = None
                return self.lines(out), int(m.group(1))
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("`%s` did not end within %.0f s; it printed:\n%s" % (
                    self.busy, timeout, self.buf.decode("utf-8", "replace")))
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: bash and everything it started are gone
                    chunk = b""
                if not chunk:
                    raise TestFailure("the terminal's bash ended during `%s`" % self.busy)
                self.buf += chunk

    def ended(self):
        """Whether the command typed last has ended (reads what is there)."""
        while select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                return True
            self.buf += chunk
        return END.search(self.buf) is not None

    def run(self, text, timeout=COMMAND_TIMEOUT_S):
        self.start(text)
        return self.finish(timeout)

    @staticmethod
    def lines(out):
        text = out.decode("utf-8", "replace").replace("\r\n", "\n")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return [l for l in lines if not JOB_KILLED.match(l)]

    def close(self):
        """Ends the bash (its input closed; then by its pid)."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        os.close(self.master)


# ---- the servers ---------------------------------------------------------------


class DefaultServer(dlocktest.Server):
    """build/dlockd with no options, as ./start.sh runs it: 127.0.0.1:7411,
    its data in ./dlock-data of its own directory."""

    def __init__(self, ctx):
        dlocktest.Server.__init__(self, ctx, 1, port=7411, raft_port=7511)

    def argv(self):
        return [dlocktest.dlockd_path()]


def default_server(ctx):
    """A fresh default server, started and leading: the first session it
    opens is 3."""
    s = DefaultServer(ctx)
    ctx.servers.append(s)
    s.start()
    return s.wait_leader()


def processes():
    """{pid: argv} of the live processes of this pid namespace but this one."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0")[:-1]]
        except OSError:
            continue
        if not argv and not zombie(name):
            argv = [""]  # being exec'd: its command line is not there yet
        if argv:
            out[int(name)] = argv
    return out


def zombie(pid):
    """Whether process pid is a zombie (or gone)."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def server_tls(pid, opt):
    """For a dlockd on a TLS client port, what its watcher connects with
    (dlocktest.TLS_BY_ADDR): the server's own certificate and key as a
    client's (docs/security.md makes them for both uses), without checking
    the server's, which the examples do themselves."""
    cwd = "/proc/%d/cwd" % pid
    cert = os.path.join(cwd, opt["--tls-cert-file"])
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    c.load_cert_chain(cert, os.path.join(cwd, opt.get("--tls-key-file", cert)))
    return c


def server_auth(pid, opt):
    """For a dlockd with --users-file, what its watcher logs in with
    (dlocktest.AUTH_BY_ADDR): the first user of the file that has a
    password (docs/security.md names its administrator first)."""
    path = os.path.join("/proc/%d/cwd" % pid, opt["--users-file"])
    try:
        with open(path) as f:
            for line in f:
                w = line.split()
                if w and not w[0].startswith("#") and "PASSWORD" in [x.upper() for x in w]:
                    i = [x.upper() for x in w].index("PASSWORD")
                    if i + 1 < len(w):
                        return (w[0], w[i + 1])
    except OSError:
        pass
    return None


def dlockd_running():
    """(client address, peer address) of each dlockd running here."""
    out = []
    for pid, argv in processes().items():
        if os.path.basename(argv[0]) != "dlockd":
            continue
        opt = {argv[i]: argv[i + 1] for i in range(1, len(argv) - 1) if argv[i].startswith("--")}
        client = opt.get("--listen", DEFAULT_ADDR)
        host, port = client.rsplit(":", 1)
        if "--tls-cert-file" in opt:
            dlocktest.TLS_BY_ADDR[client] = server_tls(pid, opt)
        if "--users-file" in opt and server_auth(pid, opt) is not None:
            dlocktest.AUTH_BY_ADDR[client] = server_auth(pid, opt)
        out.append((client, opt.get("--raft", "%s:%d" % (host, int(port) + 100))))
    return out


def someone_waits():
    """Whether a server running here has queued a blocking acquire (what a
    command left running waits in, before the next is typed)."""
    for client, _ in dlockd_running():
        with dlocktest.Client(client, timeout=2.0) as c:
            if int(dlocktest.info_fields(c).get("waiters", 0)) > 0:
                return True
    return False


class Settler:
    """Waits, before each command, for the servers running here to settle
    as they would while a person types: every server started has started
    (no bash child waits to run it), each answers, and each is a voter
    of a cluster whose leader it knows and that names itself, with every
    member a voter, having applied what that leader committed. A server
    that was a member and no longer is (removed) is left alone; one that
    never was (joining) is waited for."""

    def __init__(self, terminals):
        self.shells = {t.proc.pid for t in terminals}
        self.members = set()  # peer addresses ever seen as members

    def forking(self):
        """Whether a terminal's bash has a child that has not run its
        program yet (a `... &` just forked): a server it starts would be
        missed."""
        return any((argv[-1:] == [LOOP] and pid not in self.shells) or argv == [""]
                   for pid, argv in processes().items())

    def settled(self):
        if self.forking():
            return False
        running = [(c, p) for c, p in dlockd_running() if not self.locked(c)]
        infos = {peer: dlocktest.cluster_info(client, timeout=2.0) for client, peer in running}
        by_client = {client: infos[peer] for client, peer in running}
        for d in infos.values():
            if d["role"] == "leader":
                self.members |= {m["raft_addr"] for m in d["members"]}
        for client, peer in running:
            leader = by_client.get(infos[peer]["leader_addr"])
            ok = (leader is not None and leader["role"] == "leader" and
                  by_client.get(leader["leader_addr"]) is leader)
            if not ok:
                return False
            members = {m["raft_addr"]: m for m in leader["members"]}
            if peer not in members:
                if peer in self.members:
                    continue  # removed
                return False
            if (any(m["role"] != "voter" for m in members.values()) or
                    infos[peer]["applied_index"] < leader["commit_index"]):
                return False
        return True

    @staticmethod
    def locked(client):
        """Whether the server at client wants a login this settler does
        not have (an example set its first user): it answers PING, which
        is all that can be looked at."""
        if client in dlocktest.AUTH_BY_ADDR:
            return False
        with dlocktest.Client(client, timeout=2.0) as c:
            v = c.try_call("CLUSTER.INFO")
        if isinstance(v, dlocktest.RespError) and v.message.startswith("NOAUTH"):
            return True
        return False

    def wait(self):
        dlocktest.wait_for(self.settled, SETTLE_TIMEOUT_S,
                           "the servers to settle (a leader, voters caught up)", interval=0.05)


# ---- a section, in a namespace ---------------------------------------------------


def workdir(ctx):
    """The reader's directory: build/dlockd and build/dlock are the binaries
    under test, bin/ (on the terminal's PATH) has dlock."""
    d = os.path.join(ctx.dir, "work")
    for sub in ("build", "bin"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    dlockd = dlocktest.dlockd_path()
    dlock = dlocktest.dlock_path()
    os.symlink(dlockd, os.path.join(d, "build", "dlockd"))
    os.symlink(dlock, os.path.join(d, "build", "dlock"))
    os.symlink(dlock, os.path.join(d, "bin", "dlock"))
    return d


def terminal_env(work, **extra):
    """The environment of a reader's shell in work (extra added)."""
    env = dlocktest.tool_env(**extra)
    env.pop("DLOCK_SERVERS", None)
    env["PATH"] = os.path.join(work, "bin") + os.pathsep + env.get("PATH", "")
    return env


def run_examples(ctx, path, examples, work, numbers_vary=False):
    """Runs the examples in order, in terminals in work, each checked; what
    each printed goes to transcript.log in the test's directory too."""
    env = terminal_env(work)
    terminals = [Terminal(work, env), Terminal(work, env)]
    settler = Settler(terminals)
    log = open(os.path.join(ctx.dir, "transcript.log"), "a")

    def ended(ex, lines, status):
        log.write("$ %s\n%s[exit status %d]\n" % (ex.text, "".join(l + "\n" for l in lines), status))
        log.flush()
        check_example(path, ex, lines, status, numbers_vary)

    try:
        for i, ex in enumerate(examples):
            settler.wait()
            t = terminals[ex.terminal]
            if ex.left_running:
                t.start(ex.text)
                dlocktest.wait_for(lambda: t.ended() or someone_waits(), SETTLE_TIMEOUT_S,
                                   "`%s` to wait in a lock's queue" % ex.text)
            else:
                ended(ex, *t.run(ex.text))
            for r in examples:
                if r.left_running and r.ends_after == i:
                    ended(r, *terminals[r.terminal].finish())
    finally:
        log.close()
        for t in terminals:
            t.close()


def run_section(ctx, path, title, numbers_vary=False):
    """In a namespace: a fresh default server, then the section's examples."""
    check(shutil.which("redis-cli"), "no redis-cli (scripts/deps.sh installs redis-tools)")
    work = workdir(ctx)
    default_server(ctx)
    run_examples(ctx, path, section(path, title), work, numbers_vary)


def leftovers(timeout=10.0):
    """Waits for the processes of this namespace to end; kills those that
    do not (by pid) and returns them."""
    deadline = time.monotonic() + timeout
    while processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = processes()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def bad_logs(directory):
    """Lines of the logs (*.log) under directory that hold a sanitizer or
    assertion report: those of servers an example started."""
    found = []
    for root, _, files in os.walk(directory):
        for fn in files:
            if fn.endswith(".log"):
                with open(os.path.join(root, fn), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
                found += ["%s: %s" % (fn, l) for l in text.splitlines()
                          if any(w in l for w in dlocktest.BAD_LOG_WORDS)]
    return found


# ---- namespaces ------------------------------------------------------------------

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
MS_BIND = 4096


def loopback_up():
    """ip link set lo up."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        s.close()


def bind_mount(source, target):
    """mount --bind source target (in this mount namespace alone)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source.encode(), target.encode(), None, MS_BIND, None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount --bind %s %s: %s" % (source, target, os.strerror(e)))


def private_dir(ctx, path, keep=()):
    """Puts an empty directory of the test's own over path; the paths of
    keep that were under it are bound back where they were."""
    under = [p for p in keep if p.startswith(path.rstrip("/") + "/")]
    fds = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in under]
    own = os.path.join(ctx.dir, "mnt" + path.replace("/", "-"))
    os.makedirs(own, exist_ok=True)
    bind_mount(own, path)
    for p, fd in fds:
        os.makedirs(p, exist_ok=True)
        bind_mount("/proc/self/fd/%d" % fd, p)
        os.close(fd)
    return own


def unshare_argv():
    """The unshare command line of a private network, mount, host name and
    pid namespace (a user namespace too when not root)."""
    a = ["unshare"]
    if os.geteuid() != 0:
        a += ["--user", "--map-root-user"]
    return a + ["--net", "--mount", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc"]


def isolated(ctx, fn, *args, timeout=100.0):
    """Runs fn(inner_ctx, *args) in private namespaces (a child process;
    fn is a module-level function of an importable module, args JSON
    values), with a private /tmp: raises what it raised (TestFailure with its
    message, Skip), or Skip when namespaces are not available here."""
    if shutil.which("unshare") is None:
        raise dlocktest.Skip("no unshare (util-linux) for a private network namespace")
    result = os.path.join(ctx.dir, "result.json")
    argv = unshare_argv() + [sys.executable, os.path.abspath(__file__), ctx.dir,
                             fn.__module__, fn.__name__, json.dumps(args)]
    with open(os.path.join(ctx.dir, "namespace.log"), "wb") as log:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             cwd=ctx.dir, preexec_fn=dlocktest._die_with_parent)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)  # the namespace's processes go with it
            p.wait()
    with open(os.path.join(ctx.dir, "namespace.log"), "rb") as f:
        out = f.read().decode("utf-8", "replace")
    try:
        with open(result) as f:
            r = json.load(f)
    except (OSError, ValueError):
        if out.startswith("unshare:"):
            raise dlocktest.Skip("no private namespaces here: " + out.strip().splitlines()[0])
        raise TestFailure("the namespace's process ended (%s) without a result:\n%s" % (
            "timed out after %.0f s" % timeout if p.returncode == -signal.SIGKILL else
            "exit code %d" % p.returncode, out[-3000:]))
    if r["status"] == "skip":
        raise dlocktest.Skip(r["message"])
    if r["status"] == "fail":
        raise TestFailure(r["message"])


def child(directory, module, function, args):
    """The namespace's first process: sets it up, runs the function, writes
    the result; everything else here dies when it returns."""
    result = {"status": "ok"}
    ctx = dlocktest.Context(function, os.path.join(directory, "ns"))
    os.makedirs(ctx.dir)
    try:
        try:
            loopback_up()
            socket.sethostname(HOSTNAME)
            private_dir(ctx, "/tmp", keep=(directory, dlocktest.ROOT,
                                           os.path.dirname(dlocktest.dlockd_path()),
                                           os.path.dirname(dlocktest.dlock_path())))
        except OSError as e:
            raise dlocktest.Skip("cannot set up the namespace: %s" % e)
        fn = getattr(importlib.import_module(module), function)
        fn(ctx, *args)
    except dlocktest.Skip as e:
        result = {"status": "skip", "message": str(e)}
    except Exception as e:  # reported to the test, which fails with it
        result = {"status": "fail", "message": (str(e) if isinstance(e, AssertionError) else
                                                 "%s: %s" % (type(e).__name__, e))}
        result["message"] += "\n" + ctx.log_tails()
    problems = ctx.finish()
    left = leftovers()
    problems += ["still running when the examples ended (killed): %d %s" % (pid, " ".join(a))
                 for pid, a in sorted(left.items())]
    problems += ["a log: " + l for l in bad_logs(ctx.dir)]
    if problems and result["status"] == "ok":
        result = {"status": "fail", "message": "\n".join(problems)}
    with open(os.path.join(directory, "result.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    import transcripts
    transcripts.child(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
