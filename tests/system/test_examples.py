"""test_examples.py - the examples that need more than dlock: the fenced
PostgreSQL demo (examples/fenced-postgres) prints what its README shows,
the late write refused by the database."""

import os
import subprocess

import dlocktest
from dlocktest import Skip, eq

PG = os.path.join(dlocktest.ROOT, "examples", "fenced-postgres")


def postgresql_installed():
    base = "/usr/lib/postgresql"
    return os.path.isdir(base) and any(os.path.exists(os.path.join(base, d, "bin", "initdb"))
                                       for d in os.listdir(base))


def test_fenced_postgres_demo(ctx):
    if not postgresql_installed():
        raise Skip("no PostgreSQL (Debian package postgresql; scripts/deps.sh installs it)")
    r = subprocess.run([os.path.join(PG, "demo.sh")], capture_output=True, text=True,
                       timeout=120, env=dlocktest.tool_env(DLOCKD=dlocktest.dlockd_path()))
    eq(r.returncode, 0, "demo.sh (stderr %r)" % r.stderr)
    text = open(os.path.join(PG, "README.md")).read()
    shown = text.split("$ ./demo.sh\n", 1)[1].split("```", 1)[0]
    eq(r.stdout, shown, "the demo's output, as the README shows it")
