"""Fixtures: real dlockd processes on 127.0.0.1 (ephemeral ports, a
temporary directory each), started and stopped by the repository's test
harness (tests/system/dlocktest.py: $DLOCKD, default build/dlockd)."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

import dlocktest  # noqa: E402


@pytest.fixture
def ctx(request, tmp_path):
    c = dlocktest.Context(request.node.name, str(tmp_path))
    yield c
    problems = c.finish()
    assert not problems, problems


@pytest.fixture
def server(ctx):
    """One dlockd that leads."""
    return ctx.single()


@pytest.fixture
def client(server):
    import dlock
    c = dlock.Client(server.addr, timeout=5.0, session_ttl=2.0)
    yield c
    c.close()

