"""test_build.py - what a new user builds and installs: ./start.sh builds
dlockd and the dlock tool, and `make install PREFIX=...` gives programs a
libdlock.so they find at run time (README, "Installing")."""

import os
import shutil
import subprocess

import dlocktest
from dlocktest import check, eq

ROOT = dlocktest.ROOT

# A program of a user of the library: a session, a lock, its token.
PROGRAM = r"""
#include <dlock.h>
#include <stdio.h>

int main(void)
{
    struct dlock_client *c;
    struct dlock_session *s;
    struct dlock_lock *l;
    if (dlock_client_new(NULL, &c) != 0 || dlock_session_open(c, 10000, 0, &s) != 0 ||
        dlock_lock_acquire(s, "installed", NULL, &l) != 0) {
        printf("failed: %s\n", dlock_errmsg(c));
        return 1;
    }
    printf("token %llu\n", (unsigned long long)dlock_lock_token(l));
    dlock_lock_release(l);
    dlock_client_free(c);
    return 0;
}
"""


def make_env():
    """The environment for a make of our own: no jobserver of an outer make,
    no library path that would hide a missing rpath."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "LD_LIBRARY_PATH"):
        env.pop(k, None)
    return env


def run(argv, what, env=None, cwd=None, timeout=300):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                       env=env or make_env())
    eq(r.returncode, 0, "%s: exit code (stdout %r, stderr %r)" % (what, r.stdout[-2000:],
                                                                 r.stderr[-2000:]))
    return r.stdout


def build_args():
    """make's BUILD (the directory of the dlockd under test) and SANITIZE."""
    build = os.path.dirname(dlocktest.dlockd_path())
    rel = os.path.relpath(build, ROOT)
    # As the build named it (build-san), so that its dependency files apply.
    args = ["BUILD=" + (build if rel.startswith("..") else rel)]
    if os.environ.get("SANITIZE"):
        args.append("SANITIZE=" + os.environ["SANITIZE"])
    return args


def test_make_install_programs_find_libdlock(ctx):
    """make install PREFIX=dir installs dlock, dlockd, the header, the
    libraries, dlock.pc and the manual pages; a program built with pkg-config's flags from
    there runs without LD_LIBRARY_PATH (the rpath dlock.pc gives) and takes
    a lock; the installed dlock runs. With DESTDIR and a system prefix,
    dlock.pc names the prefix and adds no rpath, and ldconfig is left to
    the package."""
    prefix = os.path.join(ctx.dir, "prefix")
    run(["make", "-s", "-C", ROOT, "install", "PREFIX=" + prefix] + build_args(),
        "make install")
    for f in ("bin/dlock", "bin/dlockd", "include/dlock.h", "lib/libdlock.a",
              "lib/libdlock.so", "lib/libdlock.so.0", "lib/pkgconfig/dlock.pc",
              "share/man/man1/dlock.1", "share/man/man8/dlockd.8"):
        check(os.path.exists(os.path.join(prefix, f)), "installed: %s" % f)
    env = make_env()
    env["ASAN_OPTIONS"] = "verify_asan_link_order=0:detect_leaks=0"
    out = run([os.path.join(prefix, "bin", "dlock"), "--version"], "dlock --version", env=env)
    check(out.startswith("dlock "), "dlock --version: %r" % out)
    pc_env = dict(make_env(), PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    flags = run(["pkg-config", "--cflags", "--libs", "dlock"], "pkg-config", env=pc_env).split()
    src = os.path.join(ctx.dir, "prog.c")
    with open(src, "w") as f:
        f.write(PROGRAM)
    prog = os.path.join(ctx.dir, "prog")
    cflags = ["-fsanitize=" + os.environ["SANITIZE"]] if os.environ.get("SANITIZE") else []
    run(["cc", src, "-o", prog] + cflags + flags, "cc prog.c $(pkg-config ...)")
    check(os.path.join(prefix, "lib", "libdlock.so.0") in run(["ldd", prog], "ldd"),
          "prog uses the installed libdlock.so")
    srv = ctx.single()
    env["DLOCK_SERVERS"] = srv.addr
    eq(run([prog], "the program", env=env), "token 1\n", "the program's lock")
    stage = os.path.join(ctx.dir, "stage")
    out = run(["make", "-C", ROOT, "install", "PREFIX=/usr/local", "DESTDIR=" + stage]
              + build_args(), "make install DESTDIR=")
    check("ldconfig" not in out.split(), "no ldconfig with DESTDIR:\n%s" % out)
    with open(os.path.join(stage, "usr/local/lib/pkgconfig/dlock.pc")) as f:
        pc = f.read()
    check("prefix=/usr/local\n" in pc and "rpath" not in pc, "a system prefix's dlock.pc:\n" + pc)


# A program with functions of its own named as libdlock's internal ones
# (src/common/buf.c, src/client/session.c): linked with libdlock.a, it
# must neither fail to link nor have the library call them.
CLASHING_PROGRAM = r"""
#include <dlock.h>
#include <stdio.h>
#include <stdlib.h>

void buf_init(void *b);
int session_close(void *s);
void buf_init(void *b) { abort(); }
int session_close(void *s) { abort(); }

int main(void)
{
    struct dlock_client *c;
    struct dlock_session *s;
    struct dlock_lock *l;
    if (dlock_client_new(NULL, &c) != 0 || dlock_session_open(c, 10000, 0, &s) != 0 ||
        dlock_lock_acquire(s, "static", NULL, &l) != 0) {
        printf("failed: %s\n", dlock_errmsg(c));
        return 1;
    }
    printf("token %llu\n", (unsigned long long)dlock_lock_token(l));
    dlock_lock_release(l);
    dlock_session_close(s);
    dlock_client_free(c);
    return 0;
}
"""


def test_static_libdlock_leaves_programs_their_names(ctx):
    """A program that defines buf_init and session_close, names libdlock
    uses inside, links with libdlock.a and takes a lock: the library's
    own functions stay its own (tests/symbols.sh checks every name)."""
    build = os.path.dirname(dlocktest.dlockd_path())
    src = os.path.join(ctx.dir, "clash.c")
    with open(src, "w") as f:
        f.write(CLASHING_PROGRAM)
    prog = os.path.join(ctx.dir, "clash")
    cflags = ["-fsanitize=" + os.environ["SANITIZE"]] if os.environ.get("SANITIZE") else []
    # libdlock's TLS is OpenSSL's (README.md, Installing).
    run(["cc", "-I", os.path.join(ROOT, "include"), src, os.path.join(build, "libdlock.a"),
         "-lpthread", "-lssl", "-lcrypto", "-o", prog] + cflags, "cc clash.c libdlock.a")
    srv = ctx.single()
    env = dict(make_env(), DLOCK_SERVERS=srv.addr)
    env["ASAN_OPTIONS"] = "detect_leaks=0"
    eq(run([prog], "the program", env=env), "token 1\n", "the program's lock")


FAKE_MAKEFILE = """\
.PHONY: dlockd dlock
dlockd:
\tmkdir -p build && printf '#!/bin/sh\\necho dlockd "$$@"\\n' > build/dlockd && chmod +x build/dlockd
dlock:
\tmkdir -p build && touch build/dlock
"""


def test_start_sh_builds_dlockd_and_dlock(ctx):
    """./start.sh has make build dlockd and the dlock tool (which the
    README's cron line and the examples run), then runs dlockd with its
    arguments; the Makefile has both targets."""
    repo = os.path.join(ctx.dir, "repo")
    os.makedirs(os.path.join(repo, "scripts"))
    shutil.copy(os.path.join(ROOT, "start.sh"), repo)
    with open(os.path.join(repo, "scripts", "deps.sh"), "w") as f:
        f.write("exit 0\n")
    with open(os.path.join(repo, "Makefile"), "w") as f:
        f.write(FAKE_MAKEFILE)
    out = run(["sh", os.path.join(repo, "start.sh"), "--id", "7"], "start.sh")
    eq(out, "dlockd --id 7\n", "start.sh runs dlockd with its arguments")
    check(os.path.exists(os.path.join(repo, "build", "dlock")), "start.sh built dlock")
    build = os.path.join(ctx.dir, "build")
    out = run(["make", "-n", "-C", ROOT, "BUILD=" + build, "dlockd", "dlock"], "make -n")
    check("-o %s/dlock " % build in out and "-o %s/dlockd " % build in out,
          "make dlockd dlock links both:\n%s" % out[-2000:])
