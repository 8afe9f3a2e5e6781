"""test_deb.py - the Debian packages (debian/, `make deb`; docs/operations.md,
"Installing the Debian packages"), installed on this machine with dpkg:
their files are where they belong, a program builds against libdlock with
pkg-config, the service runs as its unit says and serves the installed
tool, and a purge leaves the machine as it found it. And what the
packages carry from the tree: the manual pages (man/) cover every option
and verb, and dlockd takes the configuration file's examples.

The packages are those of $DLOCK_DEB_DIR when set (a `make deb` done
already), else built here with `make deb`."""

import fcntl
import glob
import grp
import json
import os
import pwd
import re
import resource
import shlex
import shutil
import signal
import subprocess
import time
import urllib.request

import dlocktest
from dlocktest import check, eq, wait_for
from test_build import PROGRAM, make_env, run

ROOT = dlocktest.ROOT
PACKAGES = ("dlockd", "libdlock0", "libdlock-dev", "dlock-tools")
UNIT = "/lib/systemd/system/dlockd.service"
CONF_DIR = "/etc/dlock"
CONF = CONF_DIR + "/dlockd.conf"
STATE = "/var/lib/dlock"
USER = "dlock"
# What dh_installsystemd's scripts record of the unit (removed on purge).
DSH_STATE = "/var/lib/systemd/deb-systemd-helper-enabled/dlockd.service.dsh-also"
# The hardening the unit must keep (docs/operations.md).
UNIT_MUST_HAVE = (
    "User=dlock", "Group=dlock", "StateDirectory=dlock", "WorkingDirectory=/var/lib/dlock",
    "Restart=on-failure", "RestartPreventExitStatus=2", "LimitNOFILE=65536",
    "NoNewPrivileges=yes", "CapabilityBoundingSet=", "ProtectSystem=strict",
    "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes", "ProtectKernelLogs=yes", "ProtectControlGroups=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces=yes",
    "LockPersonality=yes", "MemoryDenyWriteExecute=yes", "RestrictRealtime=yes",
    "SystemCallArchitectures=native")


# ---- the manual pages and the configuration file ------------------------------


def help_text(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                       env=dlocktest.tool_env())
    eq(r.returncode, 0, "%s: exit code (stderr %r)" % (" ".join(argv), r.stderr))
    return r.stdout


def options_of(text):
    """The --options a usage text lists, one a line."""
    return set(re.findall(r"^\s+(--[a-z][a-z-]*)", text, re.M))


def man_source(name):
    """A page of man/ with roff's \\- as -, for searching."""
    with open(os.path.join(ROOT, "man", name)) as f:
        return f.read().replace("\\-", "-")


def names_in(text, words):
    """Those of words that text does not name (a word, not part of one)."""
    return sorted(w for w in words
                  if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(w), text))


def check_page_renders(name):
    """groff has no warning about the page, and lexgrog finds its NAME."""
    path = os.path.join(ROOT, "man", name)
    if shutil.which("groff"):
        r = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True,
                           text=True, timeout=20)
        check(r.returncode == 0 and r.stderr == "", "groff -man -ww -z %s: %s" % (name, r.stderr))
    if shutil.which("lexgrog"):
        out = run(["lexgrog", path], "lexgrog " + name)
        check(('"%s - ' % name.split(".")[0]) in out, "lexgrog %s: %r" % (name, out))


def test_man_pages_cover_every_option_and_verb(ctx):
    """man/dlockd.8 names every option that `dlockd --help` lists, and
    man/dlock.1 every verb of `dlock --help` and every option of each
    verb's --help; both render without a groff warning. (An option added to
    dlockd or dlock without its manual page fails here.)"""
    dlockd = help_text([dlocktest.dlockd_path(), "--help"])
    missing = names_in(man_source("dlockd.8"), options_of(dlockd))
    eq(missing, [], "options of dlockd --help missing from man/dlockd.8")
    dlock = help_text([dlocktest.dlock_path(), "--help"])
    block = dlock.split("verbs:", 1)[1].split("options", 1)[0]
    verbs = set(re.findall(r"^  ([a-z][a-z-]*)\b", block, re.M))
    check({"run", "acquire", "cluster", "watch"} <= verbs, "verbs of dlock --help: %r" % verbs)
    page = man_source("dlock.1")
    options = options_of(dlock)
    for v in verbs - {"help"}:
        options |= options_of(help_text([dlocktest.dlock_path(), v, "--help"]))
        check(re.search(r'^\.SS "?%s\b' % re.escape(v), page, re.M),
              "man/dlock.1 has no section for the verb %s" % v)
    eq(names_in(page, options), [], "options of dlock's --help missing from man/dlock.1")
    check_page_renders("dlockd.8")
    check_page_renders("dlock.1")


# Options in the conffile's examples that the dlockd of this tree may not
# take yet; each must be commented there.
NOT_YET_OPTIONS = set()


def test_conffile_examples_are_options_dlockd_takes(ctx):
    """debian/dlockd.conf as installed, and with every commented example
    line (`# name value`) taken in, is read by dlockd without a complaint
    (`dlockd --config FILE --help` reads the file, then prints the usage);
    the examples of options this dlockd lacks (NOT_YET_OPTIONS) are left
    out, and stay commented in the file."""
    with open(os.path.join(ROOT, "debian", "dlockd.conf")) as f:
        lines = f.read().splitlines()
    known = {o[2:] for o in options_of(help_text([dlocktest.dlockd_path(), "--help"]))}
    examples, later = [], set()
    for line in lines:
        # An example is a comment of two words, a name and a value.
        m = re.fullmatch(r"# ?([a-z][a-z-]*) (\S+)", line)
        if m and m.group(1) in NOT_YET_OPTIONS - known:
            later.add(m.group(1))
        elif m:
            check(m.group(1) in known, "dlockd.conf: %r is no option of dlockd" % line)
            examples.append("%s %s" % m.groups())
        elif re.match(r"[a-z]", line):
            check(line.split()[0] in known, "dlockd.conf: %r is no option of dlockd" % line)
    check(len(examples) >= 8, "the conffile's examples: %r" % examples)
    eq(later, NOT_YET_OPTIONS - known, "the examples of options to come, commented")
    path = os.path.join(ctx.dir, "examples.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines + examples) + "\n")
    r = subprocess.run([dlocktest.dlockd_path(), "--config", path, "--help"],
                       capture_output=True, text=True, timeout=20, env=dlocktest.tool_env())
    eq((r.returncode, r.stderr), (0, ""), "dlockd --config (the file, examples taken in) --help")


# ---- the packages, installed ---------------------------------------------------


def dpkg_status(pkg):
    """dpkg's status of pkg ("install ok installed", ...), or None when dpkg
    does not know it or it is not installed and has no files left."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0 or r.stdout.endswith(" not-installed"):
        return None
    return r.stdout


def dpkg(args, what):
    """dpkg with args, tried again while another dpkg or apt holds its lock
    (for up to 60 s)."""
    env = dict(make_env(), DEBIAN_FRONTEND="noninteractive")
    deadline = time.monotonic() + 60
    while True:
        r = subprocess.run(["dpkg"] + args, capture_output=True, text=True, timeout=120, env=env)
        if r.returncode == 0 or "lock" not in r.stderr or time.monotonic() > deadline:
            break
        time.sleep(1)
    eq(r.returncode, 0, "%s: exit code (stdout %r, stderr %r)" % (what, r.stdout[-2000:],
                                                                 r.stderr[-2000:]))
    return r.stdout


def exists(path):
    return os.path.lexists(path)


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def one_at_a_time():
    """An exclusive lock of this machine's package test (another checkout's
    test installs the same packages); Skip when another one holds it."""
    d = "/run/lock" if os.path.isdir("/run/lock") else "/tmp"
    f = open(os.path.join(d, "dlock-test-deb.lock"), "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise dlocktest.Skip("another test_deb is installing the packages on this machine")
    return f


def packages(ctx):
    """The four packages' .deb files, by package name: $DLOCK_DEB_DIR's, or
    built here by make deb (which lintian checks)."""
    d = os.environ.get("DLOCK_DEB_DIR")
    if not d:
        d = os.path.join(ctx.dir, "deb")
        run(["make", "-s", "-C", ROOT, "deb", "DEB_DIR=" + d], "make deb", timeout=100)
    debs = {}
    for f in glob.glob(os.path.join(d, "*.deb")):
        name = run(["dpkg-deb", "-f", f, "Package"], "dpkg-deb -f").strip()
        if name in PACKAGES:
            debs[name] = f
    eq(sorted(debs), sorted(PACKAGES), "the packages in %s" % d)
    return debs


def multiarch():
    """The multiarch directory's name (x86_64-linux-gnu)."""
    if shutil.which("dpkg-architecture"):
        return run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], "dpkg-architecture").strip()
    return run(["cc", "-print-multiarch"], "cc -print-multiarch").strip()


def unit_settings():
    """The [Service] lines of the installed unit, as name -> value."""
    settings = {}
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                k, v = line.split("=", 1)
                settings[k] = v
    return settings


def check_installed_files(libdir):
    """Each package's files where they belong: the programs, the unit, the
    conffile, the manual pages (found by man), the header, the libraries,
    dlock.pc; the user and its data directory."""
    for p in PACKAGES:
        eq(dpkg_status(p), "install ok installed", "dpkg's status of %s" % p)
    for f in ("/usr/bin/dlockd", "/usr/bin/dlock", UNIT, CONF, "/usr/include/dlock.h",
              libdir + "/libdlock.so.0", libdir + "/libdlock.a", libdir + "/pkgconfig/dlock.pc",
              "/usr/share/man/man8/dlockd.8.gz", "/usr/share/man/man1/dlock.1.gz"):
        check(exists(f), "installed: %s" % f)
    eq(os.readlink(libdir + "/libdlock.so"), "libdlock.so.0", "libdlock.so's link")
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "dlockd"], "dpkg-query Conffiles")
    check(" %s " % CONF in conffiles, "%s is a conffile of dlockd: %r" % (CONF, conffiles))
    with open(CONF) as f:
        conf = f.read()
    for line in ("listen 127.0.0.1:7411", "data /var/lib/dlock", "# http 127.0.0.1:7611",
                 "# log-format json"):
        check(re.search("^%s$" % re.escape(line), conf, re.M), "%s has %r" % (CONF, line))
    if shutil.which("man"):
        eq(run(["man", "-w", "8", "dlockd"], "man -w dlockd").strip(),
           "/usr/share/man/man8/dlockd.8.gz", "man -w 8 dlockd")
        eq(run(["man", "-w", "1", "dlock"], "man -w dlock").strip(),
           "/usr/share/man/man1/dlock.1.gz", "man -w 1 dlock")
    pw = pwd.getpwnam(USER)
    eq((pw.pw_dir, pw.pw_shell), (STATE, "/usr/sbin/nologin"), "the user dlock's home and shell")
    check(pw.pw_uid < 1000, "dlock is a system user (uid %d)" % pw.pw_uid)
    eq(grp.getgrgid(pw.pw_gid).gr_name, USER, "the user dlock's group")
    st = os.stat(STATE)
    eq((st.st_uid, oct(st.st_mode & 0o777)), (pw.pw_uid, "0o750"), "%s's owner and mode" % STATE)


def check_unit():
    """The unit has the settings docs/operations.md promises, and
    systemd-analyze verify (when there is one) finds nothing in it."""
    with open(UNIT) as f:
        lines = {l.strip() for l in f}
    missing = [l for l in UNIT_MUST_HAVE if l not in lines]
    eq(missing, [], "lines missing from %s" % UNIT)
    if shutil.which("systemd-analyze"):
        r = subprocess.run(["systemd-analyze", "verify", UNIT], capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 0 and r.stderr.strip() == "",
              "systemd-analyze verify %s: exit code %d: %s" % (UNIT, r.returncode, r.stderr))


def build_program(ctx, libdir):
    """The README's program, built with pkg-config's flags for the installed
    dlock.pc, linked with the installed libdlock.so.0."""
    env = make_env()
    env.pop("PKG_CONFIG_PATH", None)
    eq(run(["pkg-config", "--variable=libdir", "dlock"], "pkg-config libdir", env=env).strip(),
       libdir, "dlock.pc's libdir")
    flags = run(["pkg-config", "--cflags", "--libs", "dlock"], "pkg-config", env=env).split()
    check("-ldlock" in flags, "pkg-config --libs dlock: %r" % flags)
    src = os.path.join(ctx.dir, "prog.c")
    with open(src, "w") as f:
        f.write(PROGRAM)
    prog = os.path.join(ctx.dir, "prog")
    run(["cc", src, "-o", prog] + flags, "cc prog.c $(pkg-config --cflags --libs dlock)", env=env)
    ldd = run(["ldd", prog], "ldd prog")
    m = re.search(r"^\s*libdlock\.so\.0 => (\S+)", ldd, re.M)
    # (Through /lib on a merged /usr: the loader's cache names it so.)
    check(m and os.path.realpath(m.group(1)) == os.path.realpath(libdir + "/libdlock.so.0"),
          "prog uses the installed libdlock.so.0: %s" % ldd)
    return prog


def limit_nofile(n):
    """The child's limit of open files as LimitNOFILE=n sets it, where this
    machine lets root raise the hard limit (a container without
    CAP_SYS_RESOURCE does not: the limit is then left as it is)."""
    def setup():
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
        except (ValueError, OSError):
            pass
    return setup


def start_as_unit(ctx, port, raft_port, http_port):
    """dlockd started as dlockd.service would: its ExecStart, as its User
    and Group with their environment (setpriv --reset-env), in its
    WorkingDirectory (the StateDirectory, which the package made), with its
    LimitNOFILE; on ports of its own (--listen, --raft and --http after
    --config override the file's). Returns the process and its log's
    path."""
    unit = unit_settings()
    argv = shlex.split(unit["ExecStart"]) + ["--listen", "127.0.0.1:%d" % port,
                                             "--raft", "127.0.0.1:%d" % raft_port,
                                             "--http", "127.0.0.1:%d" % http_port]
    nofile = int(unit["LimitNOFILE"])
    log_path = os.path.join(ctx.dir, "dlockd-service.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["setpriv", "--reuid", unit["User"], "--regid", unit["Group"], "--init-groups",
             "--reset-env", "--pdeathsig", "KILL", "--"] + argv,
            cwd=unit["WorkingDirectory"], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            preexec_fn=limit_nofile(nofile))
    dlocktest._all_procs[proc.pid] = proc
    return proc, log_path


def log_of(path):
    with open(path) as f:
        return f.read()


def serve_from_packages(ctx, prog):
    """The service's dlockd serves: it runs as dlock, writes its data in
    /var/lib/dlock, is ready on its HTTP port, the installed dlock takes a
    lock through it and the program built against the package takes one,
    its metrics count them; SIGTERM stops it with exit code 0."""
    port, raft_port, http_port = (dlocktest.free_port(), dlocktest.free_port(),
                                  dlocktest.free_port())
    addr = "127.0.0.1:%d" % port
    proc, log_path = start_as_unit(ctx, port, raft_port, http_port)
    try:
        def pong():
            check(proc.poll() is None, "dlockd exited with code %s:\n%s" % (proc.returncode,
                                                                          log_of(log_path)))
            with dlocktest.Client(addr, timeout=2) as c:
                return c.call("PING") == "PONG"
        wait_for(pong, 15, "the service's dlockd to answer on %s" % addr)
        uid = pwd.getpwnam(USER).pw_uid
        with open("/proc/%d/status" % proc.pid) as f:
            uids = next(l for l in f if l.startswith("Uid:")).split()[1:]
        eq(set(uids), {str(uid)}, "dlockd's user ids (dlock is %d)" % uid)
        for f in ("IDENTITY", "LOCK"):
            eq(os.stat(os.path.join(STATE, f)).st_uid, uid, "%s/%s's owner" % (STATE, f))
        env = dlocktest.tool_env()
        env.pop("DLOCK_SERVERS", None)
        r = subprocess.run(["/usr/bin/dlock", "--servers", addr, "run", "deb-test", "--",
                            "sh", "-c", 'echo "$DLOCK_TOKEN"'],
                           capture_output=True, text=True, timeout=30, env=env)
        eq((r.returncode, r.stderr), (0, ""), "dlock run deb-test (stdout %r)" % r.stdout)
        token = int(r.stdout)
        r = subprocess.run(["/usr/bin/dlock", "--servers", addr, "--json", "status", "deb-test"],
                           capture_output=True, text=True, timeout=30, env=env)
        eq(r.returncode, 0, "dlock status deb-test (stderr %r)" % r.stderr)
        status = json.loads(r.stdout)
        check(status["ok"] and not status["held"], "dlock status after the run: %r" % status)
        out = run([prog], "the program built against libdlock",
                  env=dict(make_env(), DLOCK_SERVERS=addr))
        check(re.fullmatch(r"token \d+\n", out) and int(out.split()[1]) > token,
              "the program's lock after the run's token %d: %r" % (token, out))
        with urllib.request.urlopen("http://127.0.0.1:%d/ready" % http_port, timeout=10) as r:
            check(r.read().startswith(b"ready: leader"), "GET /ready")
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=10) as r:
            m = dlocktest.parse_metrics(r.read().decode())
        eq(m['dlock_grants_total{kind="lock"}'], 2, "the service's grants")
        proc.send_signal(signal.SIGTERM)
        eq(proc.wait(15), 0, "dlockd's exit code on SIGTERM:\n%s" % log_of(log_path))
        dlocktest.no_sanitizer_report(log_of(log_path), "the service's dlockd")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        dlocktest._all_procs.pop(proc.pid, None)


def check_purged(libdir):
    """Nothing of the packages is left: no package known to dpkg, no user
    or group dlock, no /etc/dlock, no /var/lib/dlock, no unit or library,
    nothing of dh_installsystemd's state."""
    eq([p for p in PACKAGES if dpkg_status(p) is not None], [], "packages still known to dpkg")
    check(not user_exists(USER) and not group_exists(USER), "the user and group dlock are gone")
    for path in (CONF_DIR, STATE, UNIT, DSH_STATE, libdir + "/libdlock.so.0",
                 "/usr/bin/dlockd", "/usr/bin/dlock"):
        check(not exists(path), "%s is gone after the purge" % path)


def leave_as_found():
    """Removes what a purge that failed (or a broken postrm) left: the
    test starts only where none of it was."""
    for d in (CONF_DIR, STATE):
        shutil.rmtree(d, ignore_errors=True)
    if user_exists(USER):
        subprocess.run(["userdel", USER], capture_output=True, timeout=30)
    if group_exists(USER):
        subprocess.run(["groupdel", USER], capture_output=True, timeout=30)


def test_deb_packages_install_serve_and_purge(ctx):
    """make deb's packages install with dpkg -i; their files are in place
    (programs, unit, conffile, man pages, header, libraries, dlock.pc) with
    the user dlock; systemd-analyze verify accepts the unit; a program
    builds with `pkg-config --cflags --libs dlock`; dlockd started as the
    unit starts it (its ExecStart, as dlock, in /var/lib/dlock) serves the
    installed dlock and the program, and stops on SIGTERM with code 0;
    dpkg --purge removes the packages, the user and group, /etc/dlock and
    /var/lib/dlock. The machine is left as it was, even when a check fails;
    packages, a user or directories of dlock's already here are left alone
    (skipped)."""
    if os.geteuid() != 0:
        raise dlocktest.Skip("needs root: it installs the packages with dpkg")
    for tool in ("dpkg", "dpkg-deb", "dpkg-query", "setpriv", "pkg-config", "cc", "ldd"):
        if shutil.which(tool) is None:
            raise dlocktest.Skip("no %s command" % tool)
    if not os.environ.get("DLOCK_DEB_DIR"):
        if shutil.which("dpkg-buildpackage") is None or shutil.which("dh") is None:
            raise dlocktest.Skip("no dpkg-buildpackage or dh for make deb (scripts/deps.sh "
                                 "installs debhelper)")
        if subprocess.run(["git", "-C", ROOT, "rev-parse"], capture_output=True).returncode:
            raise dlocktest.Skip("not a git checkout: make deb copies the files git lists")
    guard = one_at_a_time()
    try:
        here = [p for p in PACKAGES if dpkg_status(p) is not None]
        if here:
            raise dlocktest.Skip("already on this machine: %s (not ours to purge)" %
                                 ", ".join(here))
        here = [p for p in (CONF_DIR, STATE) if exists(p)]
        here += ["user " + USER] if user_exists(USER) else []
        here += ["group " + USER] if group_exists(USER) else []
        if here:
            raise dlocktest.Skip("already on this machine: %s (a purge would remove it)" %
                                 ", ".join(here))
        debs = packages(ctx)
        libdir = "/usr/lib/" + multiarch()
        purged = False
        try:
            dpkg(["-i"] + [debs[p] for p in PACKAGES], "dpkg -i")
            check_installed_files(libdir)
            check_unit()
            prog = build_program(ctx, libdir)
            serve_from_packages(ctx, prog)
            dpkg(["--purge"] + list(PACKAGES), "dpkg --purge")
            purged = True
            check_purged(libdir)
        finally:
            if not purged:
                subprocess.run(["dpkg", "--purge"] + list(PACKAGES), capture_output=True,
                               timeout=120, env=dict(make_env(), DEBIAN_FRONTEND="noninteractive"))
            leave_as_found()
    finally:
        guard.close()
