"""TLS with certificates made by openssl, and users: the client checks the
server's certificate, presents its own, and logs in."""

import os

import pytest

import dlock
import dlocktest

USERS = "admin PASSWORD adminpw ALLOW all ADMIN *\n"


def test_tls_and_login(ctx):
    pki = dlocktest.Pki(os.path.join(ctx.dir, "pki"))
    users = os.path.join(ctx.dir, "users")
    with open(users, "w") as f:
        f.write(USERS)
    srv = ctx.server(1, extra=pki.server_args() + ["--users-file", users,
                                                   "--password-iterations", "1000"],
                     tls=pki.client_ctx(), auth=("admin", "adminpw"))
    srv.start()
    srv.wait_leader()
    tls = dict(tls_ca=pki.path("ca.crt"), tls_cert=pki.path("alice.crt"),
               tls_key=pki.path("alice.key"))
    c = dlock.Client(srv.addr, timeout=5.0, user="admin", password="adminpw", **tls)
    with c.lock("secure") as lock:
        assert lock.token >= 1
    c.close()
    bad = dlock.Client(srv.addr, timeout=5.0, user="admin", password="wrong", **tls)
    with pytest.raises(dlock.AuthError):
        bad.lock_status("secure")
    untrusted = dlock.Client(srv.addr, timeout=2.0, tls_ca=pki.path("alice.crt"))
    with pytest.raises(dlock.DlockError):
        untrusted.lock_status("secure")
