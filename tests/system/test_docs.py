"""test_docs.py - the examples of README.md, docs/cli.md, docs/security.md,
docs/redis-compat.md and docs/operations.md, run exactly as
printed, each section on a fresh default server in a private network
namespace (transcripts.py), and the README's crontab line."""

import os
import re
import shutil
import time

import dlocktest
import transcripts
from dlocktest import as_map, check, eq, wait_for

README = os.path.join(dlocktest.ROOT, "README.md")
CLI = os.path.join(dlocktest.ROOT, "docs", "cli.md")
SECURITY = os.path.join(dlocktest.ROOT, "docs", "security.md")
REDIS_COMPAT = os.path.join(dlocktest.ROOT, "docs", "redis-compat.md")
OPERATIONS = os.path.join(dlocktest.ROOT, "docs", "operations.md")


# One test per section with examples. docs/cli.md says its numbers vary.
globals().update(transcripts.section_tests(README, "test_readme_"))
globals().update(transcripts.section_tests(CLI, "test_cli_md_", numbers_vary=True))
globals().update(transcripts.section_tests(SECURITY, "test_security_md_"))
globals().update(transcripts.section_tests(REDIS_COMPAT, "test_redis_compat_md_"))
# docs/operations.md's terms and indexes vary with the server's history.
globals().update(transcripts.section_tests(OPERATIONS, "test_operations_md_", numbers_vary=True))


# A crontab line: five time fields, then the command.
CRONTAB_LINE = re.compile(r"^    (?:[0-9*,/-]+\s+){5}(\S.*)$")


def crontab_command(path=README):
    """The command of the crontab line in path."""
    with open(path) as f:
        commands = [m.group(1) for m in map(CRONTAB_LINE.match, f) if m]
    check(len(commands) == 1, "%s: crontab lines: %r" % (path, commands))
    return commands[0].strip()


def cron_case(ctx, command):
    """In a namespace: /opt/greetings holds examples/nightly-job; the
    crontab command runs in two shells at once. The first runs the job
    (which holds the lock 3 s); the second finds the lock held and exits 75
    at once; the job sent one greeting, with the fencing token."""
    if not os.path.isdir("/opt"):
        raise dlocktest.Skip("no /opt to put the README's /opt/greetings in")
    work = transcripts.workdir(ctx)
    srv = transcripts.default_server(ctx)
    transcripts.private_dir(ctx, "/opt")
    shutil.copytree(os.path.join(dlocktest.ROOT, "examples", "nightly-job"), "/opt/greetings")
    env = transcripts.terminal_env(work, TODAY="12-09", HOLD_SECONDS="3")
    first, second = transcripts.Terminal(work, env), transcripts.Terminal(work, env)
    try:
        first.start(command)
        wait_for(lambda: as_map(srv.call("LOCK.STATUS", "birthday-greetings"))["held"],
                 10, "the first instance to hold the lock")
        t0 = time.monotonic()
        out, status = second.run(command)
        took = time.monotonic() - t0
        eq(status, 75, "the second instance's exit status (output %r)" % out)
        check(took < 2 and len(out) == 1 and out[0].startswith("dlock run: birthday-greetings: ")
              and "HELD" in out[0], "the second instance (%.1f s): %r" % (took, out))
        eq(first.finish(), ([], 0), "the first instance's output and exit status")
    finally:
        first.close()
        second.close()
    with open("/opt/greetings/outbox") as f:
        eq(f.read(), "Happy birthday, Grace! (sent by %s, token 1)\n" % transcripts.HOSTNAME,
           "the outbox")


def test_readme_crontab_line(ctx):
    """The README's crontab line runs as printed: one instance runs the
    job, another at the same time exits 75 at once."""
    transcripts.isolated(ctx, cron_case, crontab_command())
