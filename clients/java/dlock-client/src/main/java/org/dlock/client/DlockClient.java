package org.dlock.client;

import java.io.IOException;
import java.net.ConnectException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;

/**
 * A client of a dlock cluster. It finds the leader itself (a follower
 * answers {@code LEADER host:port}), reconnects after failures and sends
 * each write again with its request id, so that no request has a second
 * effect (docs/protocol.md §1). Thread-safe: each call takes a connection
 * of its own from a pool. {@link #close()} closes the client's sessions.
 *
 * <pre>{@code
 * try (DlockClient client = DlockClient.builder().servers("127.0.0.1:7411").build()) {
 *     DlockLock lock = client.lock("birthday-mails");
 *     if (lock.tryLock(Duration.ofSeconds(30))) {
 *         try {
 *             sendGreetings(lock.token());
 *         } finally {
 *             lock.unlock();
 *         }
 *     }
 * }
 * }</pre>
 */
public final class DlockClient implements AutoCloseable {
    private static final int CONNECT_TIMEOUT_MS = 2000;
    private static final int IDLE_PER_SERVER = 16;

    final List<String> servers;
    final long timeoutMs;
    final String name;
    final Duration sessionTtl;
    private final SSLContext tls;
    private final String user;
    private final String password;
    private final Map<String, ArrayDeque<Conn>> idle = new HashMap<>();
    private final String reqPrefix;
    private final AtomicLong reqCount = new AtomicLong();
    private volatile String leader;
    private volatile int next;
    private volatile boolean reached;
    private volatile String lastServer = "";
    private Session session;
    private final List<Session> sessions = new ArrayList<>();
    private boolean closed;

    private DlockClient(Builder b) {
        String s = b.servers != null ? b.servers : env("DLOCK_SERVERS", "127.0.0.1:7411");
        List<String> list = new ArrayList<>();
        for (String a : s.split(",")) {
            if (!a.isBlank()) {
                splitAddr(a.trim());
                list.add(a.trim());
            }
        }
        if (list.isEmpty()) {
            throw new IllegalArgumentException("no server given");
        }
        this.servers = List.copyOf(list);
        this.timeoutMs = b.timeout.toMillis();
        this.name = b.name != null ? b.name : "";
        this.sessionTtl = b.sessionTtl;
        this.user = b.user != null ? b.user : env("DLOCK_USER", null);
        this.password = b.password != null ? b.password : env("DLOCK_PASSWORD", null);
        String ca = b.tlsCa != null ? b.tlsCa : env("DLOCK_TLS_CA", null);
        try {
            this.tls = ca == null ? null : Tls.context(Path.of(ca),
                    pathOf(b.tlsCert != null ? b.tlsCert : env("DLOCK_TLS_CERT", null)),
                    pathOf(b.tlsKey != null ? b.tlsKey : env("DLOCK_TLS_KEY", null)));
        } catch (IOException | GeneralSecurityException e) {
            throw new DlockException("the TLS files do not load: " + e.getMessage(), e);
        }
        byte[] r = new byte[6];
        ThreadLocalRandom.current().nextBytes(r);
        StringBuilder sb = new StringBuilder("java-");
        for (byte x : r) {
            sb.append(String.format("%02x", x));
        }
        this.reqPrefix = sb.append('-').toString();
    }

    private static Path pathOf(String s) {
        return s == null ? null : Path.of(s);
    }

    private static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? dflt : v;
    }

    static String[] splitAddr(String addr) {
        int i = addr.lastIndexOf(':');
        if (i <= 0 || i == addr.length() - 1) {
            throw new IllegalArgumentException("a server address is host:port, not " + addr);
        }
        String port = addr.substring(i + 1);
        if (!port.chars().allMatch(Character::isDigit)) {
            throw new IllegalArgumentException("a server address is host:port, not " + addr);
        }
        String host = addr.substring(0, i);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        return new String[] {host, port};
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The options of a client (each has a default). */
    public static final class Builder {
        private String servers;
        private Duration timeout = Duration.ofSeconds(10);
        private String name;
        private Duration sessionTtl = Duration.ofSeconds(10);
        private String tlsCa;
        private String tlsCert;
        private String tlsKey;
        private String user;
        private String password;

        /** "host:port,host:port": any servers of the cluster ($DLOCK_SERVERS, else 127.0.0.1:7411). */
        public Builder servers(String servers) {
            this.servers = servers;
            return this;
        }

        /** The longest a call waits for an answer, across redirects and reconnects. */
        public Builder timeout(Duration timeout) {
            this.timeout = timeout;
            return this;
        }

        /** The client's name, shown by the server (SESSION.INFO). */
        public Builder name(String name) {
            this.name = name;
            return this;
        }

        /** The lease of the session that {@link DlockClient#lock} opens on first use. */
        public Builder sessionTtl(Duration ttl) {
            this.sessionTtl = ttl;
            return this;
        }

        /** TLS: the CA (PEM) of the servers' certificates ($DLOCK_TLS_CA), and this client's certificate and key. */
        public Builder tls(String caPem, String certPem, String keyPem) {
            this.tlsCa = caPem;
            this.tlsCert = certPem;
            this.tlsKey = keyPem;
            return this;
        }

        /** Every connection logs in ($DLOCK_USER, $DLOCK_PASSWORD). */
        public Builder credentials(String user, String password) {
            this.user = user;
            this.password = password;
            return this;
        }

        public DlockClient build() {
            return new DlockClient(this);
        }
    }

    /** A request id never used before. */
    String newReq() {
        return reqPrefix + reqCount.incrementAndGet();
    }

    /** The "host:port" of the server that answered the latest call. */
    public String lastServer() {
        return lastServer;
    }

    private Conn take(String addr, int timeoutMs) throws IOException {
        synchronized (idle) {
            ArrayDeque<Conn> q = idle.get(addr);
            if (q != null && !q.isEmpty()) {
                return q.pop();
            }
        }
        return new Conn(addr, timeoutMs, tls, user, password);
    }

    private void give(Conn c) {
        synchronized (idle) {
            ArrayDeque<Conn> q = idle.computeIfAbsent(c.addr, k -> new ArrayDeque<>());
            if (q.size() < IDLE_PER_SERVER && !closed) {
                q.push(c);
                return;
            }
        }
        c.close();
    }

    private String rotate(String addr) {
        if (addr.equals(leader)) {
            leader = null;
        }
        next++;
        return servers.get(Math.floorMod(next, servers.size()));
    }

    /**
     * Sends a command to the leader and returns its reply, following LEADER
     * redirects, waiting out elections (NOLEADER) and reconnecting until it
     * is answered or the time runs out. With waitMs, args hold WAIT ms,
     * which each repeat sets to the wait left.
     */
    Object execute(List<?> argsIn, long waitMs, long timeoutMsIn) {
        long timeout = timeoutMsIn > 0 ? timeoutMsIn : timeoutMs;
        long start = Dlock.nowMs();
        long deadline = start + timeout + waitMs;
        long waitEnd = start + waitMs;
        List<Object> args = new ArrayList<>(argsIn);
        int at = waitMs > 0 ? args.indexOf("WAIT") + 1 : 0;
        String addr = leader != null ? leader : servers.get(Math.floorMod(next, servers.size()));
        Set<String> refused = new HashSet<>();
        boolean sent = false;
        String last = null;
        while (true) {
            long left = deadline - Dlock.nowMs();
            if (left <= 0) {
                break;
            }
            if (Thread.currentThread().isInterrupted()) {
                throw new DlockException("interrupted");
            }
            if (at > 0) {
                args.set(at, Math.max(1, waitEnd - Dlock.nowMs()));
            }
            Conn c;
            try {
                c = take(addr, (int) Math.min(left, CONNECT_TIMEOUT_MS));
            } catch (SSLException e) {
                throw new DlockException("TLS with " + addr + " failed: " + e.getMessage(), e);
            } catch (IOException e) {
                last = addr + ": " + e;
                if (e instanceof ConnectException) {
                    refused.add(addr);
                    if (!reached && refused.size() == servers.size()) {
                        throw new DlockException.UnavailableException("every server refused the "
                                + "connection (" + String.join(", ", servers) + "): nothing is "
                                + "listening there; check the server list, or start the servers");
                    }
                }
                addr = rotate(addr);
                sleep(Math.min(50, Math.max(0, deadline - Dlock.nowMs())));
                continue;
            }
            reached = true;
            long callTimeout = Math.max(50, Math.min(left,
                    Math.max(0, waitEnd - Dlock.nowMs()) + Math.max(1000, timeout / 3)));
            Object reply;
            try {
                reply = c.call(args, (int) Math.min(Integer.MAX_VALUE, callTimeout));
            } catch (IOException e) {
                sent = true;
                last = addr + ": " + e;
                if (Thread.currentThread().isInterrupted()) {
                    throw new DlockException("interrupted");
                }
                addr = rotate(addr);
                continue;
            }
            give(c);
            if (reply instanceof Resp.ErrorReply) {
                Resp.ErrorReply e = (Resp.ErrorReply) reply;
                String[] words = e.message.split(" ");
                if (e.code().equals("LEADER") && words.length >= 2) {
                    addr = words[1];
                    leader = addr;
                    continue;
                }
                if (e.code().equals("NOLEADER")) {
                    sent = true;
                    last = addr + ": " + e.message;
                    sleep(Math.min(50, Math.max(0, deadline - Dlock.nowMs())));
                    addr = rotate(addr);
                    continue;
                }
                throw DlockException.fromReply(e.message);
            }
            leader = addr;
            lastServer = addr;
            return reply;
        }
        String what = String.valueOf(args.get(0));
        if (sent) {
            throw new DlockException.OutcomeUnknownException("no answer to " + what + " in "
                    + (timeout + waitMs) + " ms (last: " + last + "); sending it again is safe");
        }
        throw new DlockException.UnavailableException("no server reachable for " + what + " in "
                + (timeout + waitMs) + " ms (last: " + last + ")");
    }

    Object execute(Object... args) {
        return execute(Arrays.asList(args), 0, 0);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- sessions and the shortcuts on the client's own session

    /** A new session with a lease of ttl, kept alive by a thread of its own. */
    public Session openSession(Duration ttl) {
        Session s = new Session(this, ttl);
        synchronized (sessions) {
            sessions.add(s);
        }
        return s;
    }

    /** The session {@link #lock} and the others use: opened on first use, and again once lost. */
    public synchronized Session session() {
        if (session == null || session.isLost()) {
            if (session != null) {
                session.close();
            }
            session = openSession(sessionTtl);
        }
        return session;
    }

    /** An exclusive lock of the client's session. */
    public DlockLock lock(String name) {
        return session().lock(name);
    }

    /** A shared (read) lock of the client's session. */
    public DlockLock sharedLock(String name) {
        return session().sharedLock(name);
    }

    /** count permits of the semaphore name of permits, for the client's session. */
    public DlockSemaphore semaphore(String name, int permits, int count) {
        return session().semaphore(name, permits, count);
    }

    /** Candidacy for leader of the election name, for the client's session. */
    public Leadership leadership(String name, String value) {
        return session().leadership(name, value);
    }

    /** The changes of name from now on (a {@link Watch}). */
    public Watch watch(String name) {
        return new Watch(this, name, null);
    }

    /** The changes of name after the revision given. */
    public Watch watch(String name, long afterRevision) {
        return new Watch(this, name, afterRevision);
    }

    /** LOCK.STATUS: the lock's fields (docs/protocol.md §4). */
    public Map<String, Object> lockStatus(String name) {
        return fields(execute("LOCK.STATUS", name));
    }

    /** ELECT.LEADER: the election's leader session (0: none), token and value. */
    public Map<String, Object> leader(String name) {
        return fields(execute("ELECT.LEADER", name));
    }

    static Map<String, Object> fields(Object reply) {
        Map<String, Object> m = new HashMap<>();
        List<?> l = (List<?>) reply;
        for (int i = 0; i + 1 < l.size(); i += 2) {
            Object k = l.get(i);
            Object v = l.get(i + 1);
            m.put(k instanceof byte[] ? new String((byte[]) k, java.nio.charset.StandardCharsets.UTF_8)
                    : String.valueOf(k), v instanceof byte[]
                    ? new String((byte[]) v, java.nio.charset.StandardCharsets.UTF_8) : v);
        }
        return m;
    }

    /** Closes every session of the client (their locks are released) and its connections. */
    @Override
    public void close() {
        List<Session> all;
        synchronized (sessions) {
            all = new ArrayList<>(sessions);
            sessions.clear();
        }
        for (Session s : all) {
            s.close();
        }
        synchronized (idle) {
            closed = true;
            for (ArrayDeque<Conn> q : idle.values()) {
                for (Conn c : q) {
                    c.close();
                }
            }
            idle.clear();
        }
    }

    void forget(Session s) {
        synchronized (sessions) {
            sessions.remove(s);
        }
    }
}
