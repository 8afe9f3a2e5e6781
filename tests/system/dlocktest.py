"""dlocktest - the library of the system tests: dlockd processes on
127.0.0.1 (ephemeral ports, temporary data directories, logs kept for the
failure report), a small RESP2/RESP3 client, and helpers that follow the
leader of a cluster. Standard library only.

Every process started here is registered twice: with the test that started it
(stopped and its log checked when the test ends) and with the module
(killed by pid at interpreter exit). dlockd also gets PR_SET_PDEATHSIG, so it
dies with the runner even if the runner itself is killed with SIGKILL.
"""

import atexit
import ctypes
import os
import random
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = "127.0.0.1"

# Fast timeouts: elections settle in well under a second.
ELECTION_MS = 300
HEARTBEAT_MS = 30

# What a sanitizer or a failed assert writes; a log containing one fails the test.
BAD_LOG_WORDS = ("AddressSanitizer", "LeakSanitizer", "runtime error", "Assertion")


def binary_path(var, default):
    """A binary of the build: $var (else default), relative to the working
    directory or else to the repository."""
    p = os.environ.get(var, default)
    if not os.path.isabs(p) and not os.path.exists(p):
        p = os.path.join(ROOT, p)
    return os.path.abspath(p)


def redis_py_python():
    """A Python that has redis-py: this one, or Debian's (python3-redis)."""
    for exe in (sys.executable, "/usr/bin/python3"):
        if os.access(exe, os.X_OK) and subprocess.run(
                [exe, "-c", "import redis"], capture_output=True).returncode == 0:
            return exe
    return None


def dlockd_path():
    """The dlockd binary: $DLOCKD (default build/dlockd)."""
    return binary_path("DLOCKD", "build/dlockd")


def dlock_path():
    """The dlock tool: $DLOCK (default build/dlock)."""
    return binary_path("DLOCK", "build/dlock")


def tool_env(**extra):
    """The environment for a tool the tests run (dlock, dlock-bench): this
    one, extra added, and sanitizer options that report without aborting."""
    env = dict(os.environ, **extra)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


def info_fields(srv):
    """INFO of a server (anything with call()) as a dict of its fields."""
    text = srv.call("INFO")
    return dict(l.split(":", 1) for l in text.splitlines() if ":" in l)


def no_sanitizer_report(text, what):
    """Fails when text (a tool's stderr) holds a sanitizer or assertion report."""
    for w in BAD_LOG_WORDS:
        check(w not in text, "%s: a sanitizer or assertion report:\n%s" % (what, text))


def start_fails(ctx, tag, *args, code=1):
    """Runs dlockd with args and its data in ctx.dir/tag; it must exit at
    once with code (1: it cannot start; 2: a bad option). Returns its
    stderr."""
    data = os.path.join(ctx.dir, tag)
    r = subprocess.run([dlockd_path(), "--data", data] + list(args),
                       capture_output=True, text=True, timeout=20, env=tool_env())
    no_sanitizer_report(r.stderr, "dlockd " + " ".join(args))
    eq(r.returncode, code, "dlockd %s: exit code (stderr %r)" % (" ".join(args), r.stderr))
    return r.stderr


class Skip(Exception):
    """Raised by a test that cannot run here; the message says why."""


class TestFailure(AssertionError):
    """A check of a test failed; the message says what was expected."""


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def eq(actual, expected, what="value"):
    if actual != expected:
        raise TestFailure("%s: expected %r, got %r" % (what, expected, actual))


def wait_for(pred, timeout=10.0, what="condition", interval=0.02):
    """Polls pred() until it returns a true value, which is returned; fails
    the test after timeout seconds. Exceptions from pred count as false."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except (OSError, RespError, ProtocolError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.1f s waiting for %s%s" %
                              (timeout, what, " (last error: %r)" % last if last else ""))
        time.sleep(interval)


# ---- ports -------------------------------------------------------------------

_given_ports = set()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice
    for port 0), never the same twice in this process."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in _given_ports:
            _given_ports.add(port)
            return port
    raise RuntimeError("no free port found")


# ---- RESP client ---------------------------------------------------------------


class RespError(Exception):
    """An error reply. code is its first word (ERR, LEADER, HELD, ...),
    message the whole line."""

    def __init__(self, message):
        Exception.__init__(self, message)
        self.message = message
        self.code = message.split(" ", 1)[0]

    def __eq__(self, other):
        return isinstance(other, RespError) and other.message == self.message

    def __hash__(self):
        return hash(self.message)

    def __repr__(self):
        return "RespError(%r)" % self.message


class ProtocolError(Exception):
    """The server sent bytes that are not RESP."""


class Closed(ConnectionError):
    """The server closed the connection."""


class Push(list):
    """A RESP3 push message (out-of-band data)."""


class Verbatim(str):
    """A RESP3 verbatim string; fmt is its 3-letter format."""
    fmt = "txt"


def encode_command(args):
    """One request as RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, bytes):
            b = a
        elif isinstance(a, str):
            b = a.encode("utf-8", "surrogateescape")
        else:
            b = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _text(b):
    return b.decode("utf-8", "surrogateescape")


# The ssl.SSLContext that clients of a server on a TLS port use, by its
# client address (Server(tls=...) sets it).
TLS_BY_ADDR = {}
# (user, password) that clients of a server log in with (Server(auth=...)):
# every Client of that address sends AUTH first.
AUTH_BY_ADDR = {}

# ---- certificates (docs/security.md), made with the openssl command

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc"]


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr))


def make_ca(d, name):
    """A CA: d/name.crt and d/name.key."""
    openssl("req", "-x509", "-new", *_EC, "-keyout", os.path.join(d, name + ".key"),
            "-out", os.path.join(d, name + ".crt"), "-days", "30", "-subj", "/CN=%s" % name)


def make_cert(d, name, ca, usage="serverAuth,clientAuth", san="IP:127.0.0.1,DNS:localhost"):
    """A certificate that the CA ca (in d) signs: d/name.crt, d/name.key."""
    openssl("req", "-x509", "-new", *_EC, "-CA", os.path.join(d, ca + ".crt"),
            "-CAkey", os.path.join(d, ca + ".key"), "-days", "30", "-subj", "/CN=%s" % name,
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "subjectAltName=%s" % san, "-addext", "extendedKeyUsage=%s" % usage,
            "-keyout", os.path.join(d, name + ".key"), "-out", os.path.join(d, name + ".crt"))


class Pki:
    """A CA (d/ca.crt) that signs a server certificate for the hosts given
    (d/server.crt: serverAuth and clientAuth, as servers are each other's
    clients) and a client's (d/alice.crt, clientAuth only)."""

    def __init__(self, d, hosts=("127.0.0.1",)):
        if shutil.which("openssl") is None:
            raise Skip("no openssl command (scripts/deps.sh installs it)")
        os.makedirs(d, exist_ok=True)
        self.dir = d
        make_ca(d, "ca")
        make_cert(d, "server", "ca", san=",".join(["DNS:localhost"] +
                                                   ["IP:%s" % h for h in hosts]))
        make_cert(d, "alice", "ca", usage="clientAuth", san="DNS:alice")

    def path(self, name):
        return os.path.join(self.dir, name)

    def server_args(self):
        """dlockd's options for TLS on both ports, client certificates
        required."""
        return ["--tls-cert-file", self.path("server.crt"),
                "--tls-key-file", self.path("server.key"),
                "--tls-ca-cert-file", self.path("ca.crt")]

    def client_env(self):
        """What libdlock and dlock read (docs/security.md)."""
        return {"DLOCK_TLS_CA": self.path("ca.crt"),
                "DLOCK_TLS_CERT": self.path("alice.crt"),
                "DLOCK_TLS_KEY": self.path("alice.key")}

    def client_ctx(self, cert="alice", ca="ca"):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(self.path(ca + ".crt"))
        if cert:
            c.load_cert_chain(self.path(cert + ".crt"), self.path(cert + ".key"))
        return c


class Client:
    """A connection to a dlockd speaking RESP2, or RESP3 after hello(3).

    Replies are Python values: str (simple and bulk strings), int, float,
    bool, None, list, dict (RESP3 maps), Push, and RespError for errors
    (returned by read() and try_call(), raised by call())."""

    def __init__(self, addr, timeout=10.0, proto=2, source=None, tls=None, auth=None):
        host, port = split_addr(addr)
        self.addr = "%s:%d" % (host, port)
        self.timeout = timeout
        # source: the local address to connect from (127.0.0.2, say).
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        # tls: an ssl.SSLContext; by default the one of the server at addr
        # (Server(tls=...)), if any.
        # tls=False: plain, whatever the server.
        tls = tls if tls is not None else TLS_BY_ADDR.get(self.addr)
        if tls:
            try:
                self.sock = tls.wrap_socket(self.sock, server_hostname=host)
            except BaseException:
                self.sock.close()
                raise
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pos = 0
        self.proto = 2
        # auth: (user, password) to log in with; by default the server's
        # (Server(auth=...)), if any; auth=False: none.
        auth = auth if auth is not None else AUTH_BY_ADDR.get(self.addr)
        if auth:
            try:
                self.call("AUTH", *auth)
            except BaseException:
                self.close()
                raise
        if proto == 3:
            self.hello(3)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending
    def send(self, *args):
        """Sends one command without reading its reply."""
        self.sock.sendall(encode_command(args))

    def send_many(self, commands):
        """Sends several commands in one write (a pipeline)."""
        self.sock.sendall(b"".join(encode_command(c) for c in commands))

    def send_raw(self, data):
        self.sock.sendall(data)

    # -- receiving
    def _fill(self, timeout):
        if self.pos > 0 and self.pos == len(self.buf):
            self.buf, self.pos = b"", 0
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        if not data:
            raise Closed("connection to %s closed by the server" % self.addr)
        if self.pos > 65536:
            self.buf, self.pos = self.buf[self.pos:], 0
        self.buf += data

    def _line(self, timeout):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = self.buf[self.pos:i]
                self.pos = i + 2
                return line
            self._fill(timeout)

    def _exact(self, n, timeout):
        while len(self.buf) - self.pos < n + 2:
            self._fill(timeout)
        data = self.buf[self.pos:self.pos + n]
        if self.buf[self.pos + n:self.pos + n + 2] != b"\r\n":
            raise ProtocolError("a bulk string not followed by CRLF")
        self.pos += n + 2
        return data

    def _value(self, t):
        line = self._line(t)
        if not line:
            raise ProtocolError("an empty line")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return _text(rest)
        if kind == b"-":
            return RespError(_text(rest))
        if kind == b":":
            return int(rest)
        if kind == b"(":
            return int(rest)
        if kind == b",":
            return float(rest.decode())
        if kind == b"#":
            if rest not in (b"t", b"f"):
                raise ProtocolError("bad boolean %r" % rest)
            return rest == b"t"
        if kind == b"_":
            return None
        if kind in (b"$", b"!", b"="):
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n, t)
            if kind == b"!":
                return RespError(_text(data))
            if kind == b"=":
                v = Verbatim(_text(data[4:]))
                v.fmt = _text(data[:3])
                return v
            return _text(data)
        if kind in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return None
            items = [self._value(t) for _ in range(n)]
            return Push(items) if kind == b">" else items
        if kind == b"%":
            n = int(rest)
            d = {}
            for _ in range(n):
                k = self._value(t)
                d[_hashable(k)] = self._value(t)
            return d
        if kind == b"|":  # an attribute: read and dropped, the value follows
            n = int(rest)
            for _ in range(2 * n):
                self._value(t)
            return self._value(t)
        raise ProtocolError("unknown type byte in %r" % line[:40])

    def read(self, timeout=None):
        """The next reply (errors as RespError values). Raises
        socket.timeout (TimeoutError) if none comes in time, Closed if the
        server closed the connection."""
        t = self.timeout if timeout is None else timeout
        start = self.pos
        try:
            return self._value(t)
        except socket.timeout:
            self.pos = start  # nothing consumed: a later read starts over
            raise

    def pending(self, timeout=0.2):
        """Whether a reply arrives within timeout (it is left unread)."""
        if len(self.buf) > self.pos:
            return True
        try:
            self._fill(timeout)
            return True
        except socket.timeout:
            return False

    def try_call(self, *args, timeout=None):
        self.send(*args)
        return self.read(timeout)

    def call(self, *args, timeout=None):
        """Sends a command and returns its reply; an error reply raises
        RespError."""
        v = self.try_call(*args, timeout=timeout)
        if isinstance(v, RespError):
            raise v
        return v

    def hello(self, proto):
        v = self.call("HELLO", proto)
        self.proto = proto
        return as_map(v)

    def read_until_closed(self, timeout=5.0):
        """Every reply until the server closes the connection."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("the server did not close the connection")
            try:
                out.append(self.read(left))
            except (Closed, ConnectionResetError):
                return out
            except socket.timeout:
                raise TestFailure("the server did not close the connection within %.0f s "
                                  "(replies: %r)" % (timeout, [str(r)[:80] for r in out]))


def _hashable(k):
    if isinstance(k, list):
        return tuple(_hashable(x) for x in k)
    if isinstance(k, dict):
        return tuple(sorted((a, _hashable(b)) for a, b in k.items()))
    return k


def as_map(v):
    """A RESP3 map, or RESP2's flat array of field, value pairs, as a dict."""
    if isinstance(v, dict):
        return v
    if isinstance(v, list) and len(v) % 2 == 0:
        return {_hashable(v[i]): v[i + 1] for i in range(0, len(v), 2)}
    raise TestFailure("not a map: %r" % (v,))


def hold_maximal_locks(c, tag, n):
    """Has one session hold n locks with 256-byte names that start with
    tag, in name order, each with a 64-byte owner (pipelined); returns the
    names."""
    s = c.call("SESSION.OPEN", 120000)
    names = [("%s%06d" % (tag, i)).ljust(256, "n") for i in range(n)]
    owner = "o" * 64
    for at in range(0, n, 1000):
        part = names[at:at + 1000]
        c.send_many([("LOCK.ACQUIRE", name, s, "OWNER", owner) for name in part])
        for name in part:
            check(isinstance(c.read(30), int), "acquire %s" % name[:12])
    return names


def parse_metrics(text):
    """Samples of the Prometheus text format: {"name{labels}": value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
    return out


def npm_packages(src_dir, name):
    """The npm packages of src_dir (its package.json, pinned by its
    package-lock.json) installed with `npm ci` into the build directory
    (BUILD/name), once for each lock file; Skip when there is no Node.js or
    the packages cannot be downloaded here. Returns (node, environment with
    NODE_PATH set)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise Skip("no node or npm command (%s needs them)" % os.path.relpath(src_dir, ROOT))
    where = os.path.join(os.path.dirname(dlockd_path()), name)
    lock = os.path.join(src_dir, "package-lock.json")
    stamp = os.path.join(where, "installed-lock.json")
    want = open(lock).read()
    if not os.path.exists(stamp) or open(stamp).read() != want:
        os.makedirs(where, exist_ok=True)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(src_dir, f), where)
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                           cwd=where, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            if any(w in r.stderr for w in ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED",
                                           "ETIMEDOUT", "network")):
                raise Skip("the Node.js packages cannot be downloaded here: %s"
                           % r.stderr.strip().splitlines()[-1])
            raise AssertionError("npm ci: %s" % r.stderr)
        with open(stamp, "w") as f:
            f.write(want)
    return node, dict(os.environ, NODE_PATH=os.path.join(where, "node_modules"))


def split_addr(addr):
    if isinstance(addr, tuple):
        return addr
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def cluster_info(addr, timeout=5.0):
    """CLUSTER.INFO of the server at addr as a dict (members as a list of
    dicts)."""
    with Client(addr, timeout=timeout) as c:
        d = as_map(c.call("CLUSTER.INFO"))
    d["members"] = [as_map(m) for m in d["members"]]
    return d


def call_at_leader(addrs, *args, timeout=10.0):
    """Sends a command to the cluster at addrs (a list of client addresses,
    or one), following "LEADER host:port" redirects and retrying NOLEADER and
    unreachable servers until timeout. Returns (reply, address that gave it);
    the reply may be a RespError other than LEADER/NOLEADER."""
    lc = LeaderClient(addrs, timeout=timeout)
    try:
        v = lc.try_call(*args)
        return v, lc.addr
    finally:
        lc.close()


class LeaderClient:
    """A client of a cluster that keeps one connection, to the leader as far
    as it knows: a "LEADER host:port" reply sends it there, NOLEADER, a broken
    connection or an unreachable server make it retry (the next known address
    first) until the deadline. Only use it with requests that are safe to
    repeat: reads, keepalives, and writes with a REQ id."""

    def __init__(self, addrs, timeout=10.0):
        self.addrs = [addrs] if isinstance(addrs, str) else list(addrs)
        self.timeout = timeout
        self.addr = self.addrs[0]
        self.client = None
        self.redirects = []  # every address a LEADER reply named

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None

    def _next_addr(self):
        i = self.addrs.index(self.addr) if self.addr in self.addrs else -1
        self.addr = self.addrs[(i + 1) % len(self.addrs)]

    def try_call(self, *args, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        last = None
        while time.monotonic() < deadline:
            try:
                if self.client is None:
                    self.client = Client(self.addr, timeout=max(0.1, deadline - time.monotonic()))
                v = self.client.try_call(*args, timeout=max(0.1, deadline - time.monotonic()))
            except (OSError, Closed) as e:
                last = e
                self.close()
                self._next_addr()
                time.sleep(0.02)
                continue
            if isinstance(v, RespError) and v.code == "LEADER":
                last = v
                target = v.message.split(" ", 2)[1]
                self.redirects.append(target)
                self.close()
                self.addr = target
                if target not in self.addrs:
                    self.addrs.append(target)
                continue
            if isinstance(v, RespError) and v.code == "NOLEADER":
                last = v
                time.sleep(0.03)
                continue
            return v
        raise TestFailure("no leader answered %r within the time (last: %r)" % (args, last))

    def call(self, *args, timeout=None):
        v = self.try_call(*args, timeout=timeout)
        if isinstance(v, RespError):
            raise v
        return v


class KeepAlive:
    """A thread that renews sessions every interval seconds at the leader of
    the cluster at addrs. A NOSESSION answer is recorded in lost (the test
    checks it): the session's lease ended while the test kept it alive."""

    def __init__(self, addrs, sessions, interval=0.2):
        self.lc = LeaderClient(addrs, timeout=5.0)
        self.sessions = list(sessions)
        self.interval = interval
        self.lost = {}
        self.errors = []
        self.renewals = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_event.is_set():
            for s in list(self.sessions):
                try:
                    v = self.lc.try_call("SESSION.KEEPALIVE", s, timeout=2.0)
                except Exception as e:  # recorded; the test decides
                    self.errors.append(repr(e))
                    continue
                if isinstance(v, RespError):
                    if v.code == "NOSESSION":
                        self.lost[s] = v.message
                    else:
                        self.errors.append(v.message)
                else:
                    self.renewals += 1
            self.stop_event.wait(self.interval)

    def stop(self):
        self.stop_event.set()
        self.thread.join(10)
        self.lc.close()

    def check(self):
        """Fails if a session kept alive was lost."""
        check(not self.lost, "sessions kept alive were lost: %r" % self.lost)


# ---- processes -----------------------------------------------------------------

_all_procs = {}  # pid -> Popen, for the exit handler


def _kill_everything():
    for pid, p in list(_all_procs.items()):
        if p.poll() is None:
            try:
                os.kill(pid, signal.SIGKILL)
                p.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
    _all_procs.clear()


atexit.register(_kill_everything)

# Loaded here, not in the child: between fork and exec only the call runs.
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # PR_SET_PDEATHSIG (1): the kernel sends SIGKILL when the parent exits.
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def _child_setup(nofile):
    def setup():
        _die_with_parent()
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    return setup


class Server:
    """One dlockd: ports, data directory and log are fixed when it is made,
    so a restart brings the same server back with its data."""

    def __init__(self, ctx, sid, peers=None, join=None, extra=(),
                 election_ms=ELECTION_MS, heartbeat_ms=HEARTBEAT_MS,
                 port=None, raft_port=None, host=HOST, name=None, tls=None, auth=None):
        self.ctx = ctx
        self.id = sid
        self.host = host
        self.port = port or free_port()
        self.raft_port = raft_port or free_port()
        # Its HTTP port (metrics, /health, /ready, the status page).
        self.http_port = free_port()
        # Its own directory (log, data): "n<id>", or name for a second
        # server of one id.
        self.dir = os.path.join(ctx.dir, name or "n%d" % sid)
        os.makedirs(self.dir, exist_ok=True)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "dlockd.log")
        self.peers = peers
        self.join = join
        self.extra = list(extra)
        self.election_ms = election_ms
        self.heartbeat_ms = heartbeat_ms
        self.env = {}  # added to the environment of the next start
        self.nofile = None  # ulimit -n (soft and hard) of the next start
        self.proc = None
        self.starts = 0
        self.expect_exit = False  # set when the test stops or kills it
        self.exits = []  # (how, return code) of each process that ended
        # tls: the ssl.SSLContext of its clients, on a TLS client port (the
        # options that make it one go in extra).
        if tls is not None:
            TLS_BY_ADDR[self.addr] = tls
        if auth is not None:
            AUTH_BY_ADDR[self.addr] = auth

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def raft_addr(self):
        return "%s:%d" % (self.host, self.raft_port)

    @property
    def http_addr(self):
        return "%s:%d" % (self.host, self.http_port)

    def http_get(self, path, timeout=10.0, headers=None):
        """GET path from its HTTP port: (status, headers dict, body bytes)."""
        import http.client
        conn = http.client.HTTPConnection(self.host, self.http_port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def metrics(self):
        """Its /metrics as {"name" or "name{labels}": float}."""
        status, _, body = self.http_get("/metrics")
        check(status == 200, "GET /metrics: %d" % status)
        return parse_metrics(body.decode())

    def argv(self):
        a = [dlockd_path(), "--id", str(self.id), "--listen", self.addr,
             "--raft", self.raft_addr, "--data", self.data,
             "--election-ms", str(self.election_ms),
             "--heartbeat-ms", str(self.heartbeat_ms), "--log-level", "info"]
        if not any(x == "--http" or x.startswith("--http=") for x in self.extra):
            a += ["--http", self.http_addr]
        if self.peers:
            a += ["--peers", self.peers]
        if self.join:
            a += ["--join", self.join]
        return a + self.extra

    def note(self, text):
        """Writes a marker line into the server's log (between processes)."""
        with open(self.log_path, "a") as f:
            f.write("=== dlocktest %s: %s\n" % (time.strftime("%H:%M:%S"), text))

    def start(self, wait=True):
        check(self.proc is None or self.proc.poll() is not None,
              "dlockd %d is already running" % self.id)
        self.starts += 1
        self.note("start #%d: %s" % (self.starts, " ".join(self.argv())))
        log = open(self.log_path, "ab")
        try:
            env = dict(os.environ)
            env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
            env.update(self.env)
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, cwd=self.dir,
                                         env=env, preexec_fn=_child_setup(self.nofile))
        finally:
            log.close()
        _all_procs[self.proc.pid] = self.proc
        self.expect_exit = False
        if wait:
            self.wait_ping()
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _ended(self, how):
        rc = self.proc.wait()
        self.exits.append((how, rc))
        _all_procs.pop(self.proc.pid, None)
        self.note("%s: exit code %d" % (how, rc))
        return rc

    def kill(self):
        """kill -9: a crash."""
        if self.alive():
            self.expect_exit = True
            os.kill(self.proc.pid, signal.SIGKILL)
            self._ended("SIGKILL")

    def term(self, timeout=10.0):
        """SIGTERM: a graceful stop; returns the exit code. Kills it (and
        fails) if it does not exit in time."""
        if not self.alive():
            return None
        self.expect_exit = True
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure("dlockd %d did not stop within %.0f s of SIGTERM" % (self.id, timeout))
        return self._ended("SIGTERM")

    def send_term(self):
        """SIGTERM without waiting for the exit (reap it with wait_exit)."""
        self.expect_exit = True
        os.kill(self.proc.pid, signal.SIGTERM)

    def wait_exit(self, timeout=10.0):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure("dlockd %d did not exit within %.0f s" % (self.id, timeout))
        return self._ended("SIGTERM")

    def pause(self):
        """SIGSTOP: the process hangs, as a server in a long GC pause."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self, wait=True):
        """Stops it (SIGKILL if still running) and starts it again on the
        same ports with the same data."""
        self.kill()
        return self.start(wait)

    def client(self, proto=2, timeout=10.0):
        c = Client(self.addr, timeout=timeout, proto=proto)
        self.ctx.clients.append(c)
        return c

    def call(self, *args, timeout=10.0):
        with Client(self.addr, timeout=timeout) as c:
            return c.call(*args)

    def try_call(self, *args, timeout=10.0):
        with Client(self.addr, timeout=timeout) as c:
            return c.try_call(*args)

    def ping(self, timeout=2.0):
        """Whether it answers PING (which needs no login)."""
        try:
            with Client(self.addr, timeout=timeout, auth=False) as c:
                return c.try_call("PING") == "PONG"
        except OSError:
            return False

    def wait_ping(self, timeout=15.0):
        def ready():
            if not self.alive():
                raise TestFailure("dlockd %d exited (code %s) while starting; log:\n%s"
                                  % (self.id, self.proc.poll(), self.log_tail()))
            return self.ping()
        wait_for(ready, timeout, "dlockd %d to answer PING" % self.id)

    def info(self):
        """CLUSTER.INFO as a dict (members as a list of dicts)."""
        return cluster_info(self.addr)

    def wait_leader(self, timeout=15.0):
        """Waits until this server is leader and serves (for a single
        server): a leader names its own address only once its first entry
        has applied; before, it answers writes with NOLEADER."""
        def leads():
            d = self.info()
            return d["role"] == "leader" and d["leader_addr"] == self.addr
        wait_for(leads, timeout, "dlockd %d to become leader" % self.id)
        return self

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_problems(self):
        """Lines of its log a sanitizer or a failed assertion wrote."""
        return [l for l in self.log_text().splitlines() if any(w in l for w in BAD_LOG_WORDS)]


def own_hosts_base():
    """A /24 of the loopback network of this cluster's own, drawn at random
    (127.1-254.1-254.0), so that the network rules of one test or campaign
    never cut the servers of another running at the same time."""
    r = random.SystemRandom()
    return "127.%d.%d." % (r.randint(1, 254), r.randint(1, 254))


def host_of(sid, base):
    """Server sid's own loopback address in base (base + (10 + sid)), for
    tests that cut the network between servers by address."""
    return "%s%d" % (base, 10 + sid)


class Cluster:
    """Servers 1..n started with --peers naming each other; with own_hosts,
    each on an address of its own (host_of), else all on HOST."""

    def __init__(self, ctx, n=3, own_hosts=False, **kw):
        self.ctx = ctx
        ids = list(range(1, n + 1))
        base = own_hosts_base() if own_hosts else None
        hosts = {i: host_of(i, base) if own_hosts else HOST for i in ids}
        ports = {i: (free_port(), free_port()) for i in ids}
        peers = ",".join("%d=%s:%d" % (i, hosts[i], ports[i][1]) for i in ids)
        self.servers = [ctx.server(i, peers=peers, port=ports[i][0], raft_port=ports[i][1],
                                   host=hosts[i], **kw)
                        for i in ids]

    def start(self):
        for s in self.servers:
            s.start(wait=False)
        for s in self.servers:
            s.wait_ping()
        self.wait_leader()
        return self

    def by_id(self, sid):
        return next(s for s in self.servers if s.id == sid)

    def live(self):
        return [s for s in self.servers if s.alive()]

    def addrs(self):
        return [s.addr for s in self.servers]

    def leader_now(self, among=None):
        """The server every live one of among (default: all live) agrees is
        leader, naming its client address, and which says so itself (and
        serves: it names itself only then); None if not so yet."""
        among = among if among is not None else self.live()
        infos = {}
        for s in among:
            infos[s.id] = s.info()
        views = {(d["leader"], d["leader_addr"]) for d in infos.values()}
        if len(views) != 1:
            return None
        lid, laddr = views.pop()
        if lid not in infos or infos[lid]["role"] != "leader":
            return None
        leader = self.by_id(lid)
        return leader if laddr == leader.addr else None

    def wait_leader(self, among=None, timeout=15.0, other_than=None):
        def found():
            l = self.leader_now(among)
            if l is not None and other_than is not None and l.id == other_than:
                return None
            return l
        return wait_for(found, timeout, "a leader all servers agree on")

    def followers(self, leader=None):
        leader = leader or self.wait_leader()
        return [s for s in self.live() if s.id != leader.id]


class Context:
    """What a test gets: its own temporary directory and a factory of
    servers and clients, all stopped and checked when the test ends."""

    def __init__(self, name, directory):
        self.name = name
        self.dir = directory
        TLS_BY_ADDR.clear()
        AUTH_BY_ADDR.clear()
        self.servers = []
        self.clients = []
        self.cleanups = []

    def server(self, sid=1, **kw):
        s = Server(self, sid, **kw)
        self.servers.append(s)
        return s

    def single(self, **kw):
        """A started one-server cluster that leads."""
        s = self.server(1, **kw)
        s.start()
        return s.wait_leader()

    def cluster(self, n=3, **kw):
        return Cluster(self, n, **kw).start()

    def defer(self, fn):
        """Calls fn when the test ends (before its servers are stopped)."""
        self.cleanups.append(fn)

    def finish(self):
        """Stops everything the test started and returns the problems found:
        sanitizer or assertion reports in a log, or a server that died
        without being told to. Every server gets SIGTERM (so that a leak
        check can run), and SIGKILL if it does not exit in time."""
        problems, exits = [], []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:
                problems.append("cleanup failed: %r" % e)
        for c in self.clients:
            c.close()
        for s in self.servers:
            if s.proc is not None and s.proc.poll() is not None and not s.expect_exit:
                rc = s._ended("found dead")
                exits.append("dlockd %d died during the test (exit code %d)" % (s.id, rc))
        running = [s for s in self.servers if s.alive()]
        for s in running:
            try:
                s.resume()  # a stopped process cannot handle SIGTERM
                s.send_term()
            except OSError:
                pass
        deadline = time.monotonic() + 10
        for s in running:
            try:
                s.proc.wait(max(0.1, deadline - time.monotonic()))
                rc = s._ended("SIGTERM at the end")
                if rc != 0:
                    exits.append("dlockd %d exited with code %d on SIGTERM" % (s.id, rc))
            except subprocess.TimeoutExpired:
                s.kill()
                exits.append("dlockd %d did not stop on SIGTERM; killed" % s.id)
        for s in self.servers:
            for line in s.log_problems():
                problems.append("dlockd %d log: %s" % (s.id, line))
        return problems + exits

    def log_tails(self, lines=25):
        out = []
        for s in self.servers:
            out.append("--- dlockd %d (%s), last %d lines:" % (s.id, s.log_path, lines))
            out.append(s.log_tail(lines))
        return "\n".join(out)
