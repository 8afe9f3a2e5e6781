"""test_tls.py - TLS on the client and peer ports (docs/security.md), with
certificates made by the openssl command: who is let in and who is not,
redis-cli over TLS, a slow handshake, reloading certificates on SIGHUP
without dropping a connection, bad files at start and at reload, a TLS
cluster across a leader kill and a join, and a peer whose certificate
another CA signed, which can neither join nor vote."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import dlocktest
from dlocktest import check, eq, make_ca, make_cert, start_fails, wait_for


def pki(ctx):
    """ca signs server and alice (a client); other-ca signs mallory."""
    d = dlocktest.Pki(os.path.join(ctx.dir, "pki")).dir
    make_ca(d, "other-ca")
    make_cert(d, "mallory", "other-ca", usage="clientAuth", san="DNS:mallory")
    return d


def client_ctx(d, cert=None, ca="ca"):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(os.path.join(d, ca + ".crt"))
    if cert:
        c.load_cert_chain(os.path.join(d, cert + ".crt"), os.path.join(d, cert + ".key"))
    return c


def tls_args(d, auth="yes", cert="server"):
    return ["--tls-cert-file", os.path.join(d, cert + ".crt"),
            "--tls-key-file", os.path.join(d, cert + ".key"),
            "--tls-ca-cert-file", os.path.join(d, "ca.crt"), "--tls-auth-clients", auth]


def refused(srv, ctx_, what):
    """A client with ctx_ gets no answer: its handshake fails, or (TLS 1.3,
    where the client's certificate is checked after the client is done) the
    server closes the connection at its first request."""
    try:
        with dlocktest.Client(srv.addr, tls=ctx_, timeout=5) as c:
            c.send("PING")
            c.read(5)
    except (ssl.SSLError, ConnectionError, dlocktest.Closed):
        return
    raise AssertionError("%s: the server answered" % what)


def test_who_is_let_in(ctx):
    """With --tls-auth-clients yes, only a client certificate that the CA
    signed gets in; a client without one, or with one of another CA, is
    refused, and so is a client that does not trust the server's CA. A
    plain client is told in RESP that the port speaks TLS. Each refusal is
    logged, and nothing of it reaches the lock state."""
    d = pki(ctx)
    s = ctx.server(1, extra=tls_args(d), tls=client_ctx(d, "alice"))
    s.start()
    s.wait_leader()
    with s.client() as c:
        eq(c.call("PING"), "PONG")
        sid = c.call("SESSION.OPEN", "10000")
        token = c.call("LOCK.ACQUIRE", "tls-lock", sid, "OWNER", "a")
        check(isinstance(token, int) and token > 0, "a token over TLS: %r" % (token,))
    refused(s, client_ctx(d), "no client certificate")
    refused(s, client_ctx(d, "mallory"), "a certificate of another CA")
    refused(s, client_ctx(d, "alice", ca="other-ca"), "a server the client does not trust")
    with dlocktest.Client(s.addr, tls=False) as c:
        c.send("PING")
        out = c.read_until_closed()
    eq([str(o) for o in out],
       ["ERR this port speaks TLS: connect with TLS (redis-cli --tls --cacert CA_FILE; "
        "docs/security.md)"], "a plain client's answer")
    log = s.log_text()
    check("peer did not return a certificate" in log, "the refusal without a certificate "
          "is logged:\n%s" % s.log_tail())
    check("not TLS on the TLS port" in log, "the plain client is logged")
    fields = dlocktest.info_fields(s)
    check(int(fields["tls_failed"]) >= 3, "INFO tls_failed: %r" % fields.get("tls_failed"))
    eq(fields["tls"], "on", "INFO tls")


def test_optional_and_no_client_certificates(ctx):
    """--tls-auth-clients optional lets in a client without a certificate
    and one with a certificate the CA signed, and refuses one of another CA;
    no asks for none."""
    d = pki(ctx)
    s = ctx.server(1, extra=tls_args(d, "optional"))
    s.start(wait=False)
    dlocktest.TLS_BY_ADDR[s.addr] = client_ctx(d)
    s.wait_ping()
    for cert in (None, "alice"):
        with dlocktest.Client(s.addr, tls=client_ctx(d, cert)) as c:
            eq(c.call("PING"), "PONG", "optional, certificate %s" % cert)
    refused(s, client_ctx(d, "mallory"), "optional: a certificate of another CA")
    s.term()
    s.extra = ["--tls-cert-file", os.path.join(d, "server.crt"),
               "--tls-key-file", os.path.join(d, "server.key"), "--tls-auth-clients", "no",
               "--tls-peers", "no"]
    s.start()
    with dlocktest.Client(s.addr, tls=client_ctx(d)) as c:
        eq(c.call("PING"), "PONG", "no client certificates")


def test_redis_cli_over_tls(ctx):
    """redis-cli --tls with the CA and a client certificate: commands,
    locks and a blocking acquire that another client's release hands over."""
    d = pki(ctx)
    s = ctx.server(1, extra=tls_args(d), tls=client_ctx(d, "alice"))
    s.start()
    s.wait_leader()
    cli = ["redis-cli", "-p", str(s.port), "--tls", "--cacert", os.path.join(d, "ca.crt"),
           "--cert", os.path.join(d, "alice.crt"), "--key", os.path.join(d, "alice.key")]

    def run(*args):
        r = subprocess.run(cli + list(args), capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, "redis-cli %s: %s" % (args, r.stderr))
        return r.stdout.strip()
    eq(run("PING"), "PONG")
    sid = run("SESSION.OPEN", "30000")
    out = run("LOCK.ACQUIRE", "report", sid)
    check(out.isdigit(), "acquire over TLS: %r" % out)
    # A waiter over TLS is handed the lock by a release over TLS.
    with s.client() as holder, s.client() as waiter:
        hs = holder.call("SESSION.OPEN", "30000")
        ws = waiter.call("SESSION.OPEN", "30000")
        first = holder.call("LOCK.ACQUIRE", "hot", hs)
        waiter.send("LOCK.ACQUIRE", "hot", ws, "WAIT", "20000")
        check(not waiter.pending(0.3), "the waiter waits")
        eq(holder.call("LOCK.RELEASE", "hot", hs), 0)
        got = waiter.read(10)
        check(isinstance(got, int) and got > first, "handed over: %r" % (got,))
    # Megabytes of replies in TLS records arrive whole.
    with s.client() as c:
        sid = c.call("SESSION.OPEN", "60000")
        c.send_many([("LOCK.ACQUIRE", "bulk-%05d" % i, sid) for i in range(3000)])
        for _ in range(3000):
            check(isinstance(c.read(10), int), "a pipelined acquire over TLS")
        listed = c.call("LOCK.LIST", "bulk-", "COUNT", "5000")
        check(len(str(listed)) > 3000 * 5, "LOCK.LIST over TLS")


def test_a_handshake_must_end_in_time(ctx):
    """A connection that opens TCP and sends nothing, or half a ClientHello,
    is closed after --request-timeout-ms; meanwhile others are served."""
    d = pki(ctx)
    s = ctx.server(1, extra=tls_args(d, "no") + ["--request-timeout-ms", "500"],
                   tls=client_ctx(d))
    s.start()
    silent = socket.create_connection(("127.0.0.1", s.port))
    half = socket.create_connection(("127.0.0.1", s.port))
    half.sendall(bytes([22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]))
    eq(s.call("PING"), "PONG")
    for sock in (silent, half):
        sock.settimeout(5)
        start = time.monotonic()
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        took = time.monotonic() - start
        eq(data, b"", "closed without a word")
        check(took < 4.5, "closed after %.1f s" % took)
        sock.close()
    eq(s.call("PING"), "PONG")


def test_certificates_reload_on_sighup(ctx):
    """SIGHUP loads the certificate, key and CA again: a connection open
    before keeps working, new ones see the new certificate (signed by a new
    CA here, as when a CA is replaced). Files that do not load are logged
    and the ones loaded before stay in use."""
    d = pki(ctx)
    s = ctx.server(1, extra=tls_args(d, "no"), tls=client_ctx(d))
    s.start()
    s.wait_leader()
    before = s.client()
    sid = before.call("SESSION.OPEN", "60000")
    before.call("LOCK.ACQUIRE", "kept", sid)
    # The new CA and certificate replace the files in place.
    make_ca(d, "new-ca")
    make_cert(d, "new-server", "new-ca")
    for ext in ("crt", "key"):
        shutil.copy(os.path.join(d, "new-server." + ext), os.path.join(d, "server." + ext))
    os.kill(s.pid, signal.SIGHUP)
    wait_for(lambda: "loaded again" in s.log_text(), 10, "the reload's log line")
    eq(before.call("PING"), "PONG", "the connection from before the reload")
    eq(before.call("LOCK.RELEASE", "kept", sid), 0)
    refused(s, client_ctx(d), "the old CA after the reload")
    with dlocktest.Client(s.addr, tls=client_ctx(d, ca="new-ca")) as c:
        eq(c.call("PING"), "PONG", "the new CA after the reload")
    # A broken key: the reload fails, the new certificate stays in use.
    with open(os.path.join(d, "server.key"), "w") as f:
        f.write("not a key\n")
    os.kill(s.pid, signal.SIGHUP)
    wait_for(lambda: "did not load" in s.log_text(), 10, "the failed reload's log line")
    with dlocktest.Client(s.addr, tls=client_ctx(d, ca="new-ca")) as c:
        eq(c.call("PING"), "PONG", "after a failed reload")
    eq(before.call("PING"), "PONG")
    check(s.alive(), "the server runs on")


def test_bad_tls_options_stop_the_start(ctx):
    """Missing or wrong files and incomplete options are refused at start,
    each saying which."""
    d = pki(ctx)
    crt, key = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
    ca = os.path.join(d, "ca.crt")
    err = start_fails(ctx, "nofile", "--tls-cert-file", "/nonexistent.crt",
                      "--tls-auth-clients", "no", "--tls-peers", "no")
    check("/nonexistent.crt" in err, err)
    err = start_fails(ctx, "wrongkey", "--tls-cert-file", crt, "--tls-key-file",
                      os.path.join(d, "alice.key"), "--tls-ca-cert-file", ca)
    check("alice.key" in err and "mismatch" in err, err)
    err = start_fails(ctx, "noca", "--tls-cert-file", crt, "--tls-key-file", key, code=2)
    check("--tls-auth-clients yes needs --tls-ca-cert-file" in err, err)
    err = start_fails(ctx, "nocert", "--tls-ca-cert-file", ca, code=2)
    check("need --tls-cert-file" in err, err)
    err = start_fails(ctx, "badauth", "--tls-cert-file", crt, "--tls-auth-clients", "maybe",
                      code=2)
    check("yes, optional or no" in err, err)
    err = start_fails(ctx, "peersnocert", "--tls-peers", "yes", code=2)
    check("--tls-peers yes needs --tls-cert-file" in err, err)
    err = start_fails(ctx, "peersnoca", "--tls-cert-file", crt, "--tls-auth-clients", "no",
                      code=2)
    check("TLS on the peer port needs --tls-ca-cert-file" in err, err)


def peer_args(d, cert):
    return ["--tls-cert-file", os.path.join(d, cert + ".crt"),
            "--tls-key-file", os.path.join(d, cert + ".key"),
            "--tls-ca-cert-file", os.path.join(d, "ca.crt")]


def test_tls_cluster_survives_a_leader_kill(ctx):
    """Three servers with TLS on both ports (the peer port's by default):
    a lock granted over TLS survives a kill -9 of the leader, under its
    token; the new leader grants the next one; a fourth server joins
    through a member's TLS client port."""
    d = pki(ctx)
    cl = ctx.cluster(3, extra=peer_args(d, "server"), tls=client_ctx(d, "alice"))
    leader = cl.wait_leader()
    check("peer 2 at" in leader.log_text() or "peer 1 at" in leader.log_text(), "peers")
    check("TLSv1." in leader.log_text(), "the peers' connections are TLS:\n%s"
          % leader.log_tail())
    lc = dlocktest.LeaderClient(cl.addrs())
    ctx.defer(lc.close)
    sid = lc.call("SESSION.OPEN", 10000, "REQ", "open")
    token = lc.call("LOCK.ACQUIRE", "across", sid, "REQ", "acq")
    leader.kill()
    new = cl.wait_leader(other_than=leader.id)
    st = dlocktest.as_map(lc.call("LOCK.STATUS", "across"))
    eq((st["session"], st["token"]), (sid, token), "the lock at the new leader")
    eq(lc.call("LOCK.RELEASE", "across", sid, "REQ", "rel"), 0)
    again = lc.call("LOCK.ACQUIRE", "across", sid, "REQ", "acq2")
    check(again > token, "a later token: %r after %r" % (again, token))
    s4 = ctx.server(4, join=new.addr, extra=peer_args(d, "server"),
                    tls=client_ctx(d, "alice"))
    s4.start()

    def voter():
        m = [m for m in new.info()["members"] if m["id"] == 4]
        return m and m[0]["role"] == "voter"
    wait_for(voter, 20, "server 4 to join over TLS and become a voter")
    leader.start()
    wait_for(lambda: leader.info()["leader"] == new.id, 15, "the killed server back as follower")


def test_a_peer_with_a_wrong_certificate_cannot_join_or_vote(ctx):
    """Server 3 has a certificate of another CA: servers 1 and 2 refuse
    its connections and it refuses theirs, so it never hears the leader
    and its vote never counts: with server 2 stopped, server 1 cannot be
    elected. A client certificate of the right CA (no serverAuth) cannot
    use the peer port either."""
    d = pki(ctx)
    make_cert(d, "server-b", "ca")
    make_cert(d, "evil", "other-ca")
    ids = (1, 2, 3)
    ports = {i: (dlocktest.free_port(), dlocktest.free_port()) for i in ids}
    peers = ",".join("%d=127.0.0.1:%d" % (i, ports[i][1]) for i in ids)
    certs = {1: "server", 2: "server-b", 3: "evil"}
    servers = {}
    for i in ids:
        extra = peer_args(d, certs[i]) + ["--tls-auth-clients", "no"]
        if i == 3:
            extra[-3] = os.path.join(d, "other-ca.crt")
        servers[i] = ctx.server(i, peers=peers, port=ports[i][0], raft_port=ports[i][1],
                                extra=extra, tls=client_ctx(d, ca="other-ca" if i == 3 else "ca"))
    for s in servers.values():
        s.start(wait=False)
    for s in servers.values():
        s.wait_ping()

    def leads():
        infos = [servers[i].info() for i in (1, 2)]
        return infos[0]["leader"] != 0 and infos[0]["leader"] == infos[1]["leader"]
    wait_for(leads, 15, "servers 1 and 2 to agree on a leader")
    wait_for(lambda: "certificate refused" in servers[1].log_text() +
             servers[2].log_text(), 10, "servers 1 and 2 to refuse server 3's certificate")
    wait_for(lambda: "peer connection refused: TLS: tlsv1 alert unknown ca" in
             servers[1].log_text() + servers[2].log_text(), 10,
             "servers 1 and 2 to hear that server 3 refuses theirs")
    time.sleep(1.0)
    eq(servers[3].info()["leader"], 0, "server 3 never hears a leader")
    # A client's certificate on the peer port.
    raw = socket.create_connection(("127.0.0.1", ports[1][1]))
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(os.path.join(d, "ca.crt"))
    c.load_cert_chain(os.path.join(d, "alice.crt"), os.path.join(d, "alice.key"))
    try:
        t = c.wrap_socket(raw, server_hostname="127.0.0.1")
        t.settimeout(5)
        t.sendall(b"x" * 100)
        eq(t.recv(100), b"", "the peer port closes a client certificate's connection")
    except (ssl.SSLError, ConnectionError):
        pass
    wait_for(lambda: "not a server's" in servers[1].log_text(), 10,
             "the refusal of a client's certificate")
    # Server 3's vote never counts.
    leader = servers[1].info()["leader"]
    other = servers[2 if leader == 1 else 1]
    servers[leader].kill()
    time.sleep(3.0)
    eq(other.info()["role"] != "leader", True, "no leader without server 3's vote")
    # Refused again and again, said in a few lines, not once a retry.
    refusals = servers[3].log_text().count("certificate refused")
    check(refusals <= 3, "server 3 logged %d refusals" % refusals)
