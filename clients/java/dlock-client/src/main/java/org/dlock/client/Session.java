package org.dlock.client;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * A session: a lease on the cluster that a thread of the library renews
 * every third of its TTL. Its locks, permits and leaderships are held as
 * long as it lives; when its lease can no longer be proven (safe-until
 * passed without a renewal, or the server ended it), it is lost, and so is
 * everything it held: their listeners are called and their futures
 * completed, from the keepalive thread.
 */
public final class Session implements AutoCloseable {
    /** How far clocks may drift apart (parts per million), and the margin taken off safe-until. */
    public static final long DRIFT_PPM = 1000;
    public static final long SAFETY_MS = 50;

    final DlockClient client;
    private final long id;
    private final long ttlMs;
    private volatile long safeUntil;
    private volatile long nextAt;
    private volatile boolean closed;
    private final CompletableFuture<Session> lost = new CompletableFuture<>();
    private final List<Consumer<Session>> listeners = new CopyOnWriteArrayList<>();
    final Set<Hold> holds = ConcurrentHashMap.newKeySet();
    private final Thread keeper;

    Session(DlockClient client, Duration ttl) {
        long ms = ttl.toMillis();
        if (ms < 100 || ms > 3_600_000) {
            throw new IllegalArgumentException("a session's TTL is 100 ms to 1 h, not " + ttl);
        }
        this.client = client;
        this.ttlMs = ms;
        long sent = Dlock.nowMs();
        this.id = (Long) client.execute(List.of("SESSION.OPEN", ms, "NAME", client.name, "REQ",
                client.newReq()), 0, 0);
        this.safeUntil = safeUntil(sent, ms);
        this.nextAt = sent + ms / 3;
        this.keeper = new Thread(this::run, "dlock-session-" + id);
        keeper.setDaemon(true);
        keeper.start();
    }

    /** Until when a lease renewed by a request sent at sent is known to hold, as libdlock computes it. */
    static long safeUntil(long sent, long ttlMs) {
        long margin = (ttlMs * DRIFT_PPM + 999_999) / 1_000_000 + SAFETY_MS;
        return ttlMs > margin ? sent + ttlMs - margin : sent;
    }

    public long id() {
        return id;
    }

    public Duration ttl() {
        return Duration.ofMillis(ttlMs);
    }

    /** Until when ({@link Dlock#nowMs()}) the lease is known to hold; 0 once lost. */
    public long safeUntil() {
        return isLost() ? 0 : safeUntil;
    }

    /** True once the lease can no longer be proven. Final. */
    public boolean isLost() {
        if (!lost.isDone() && Dlock.nowMs() >= safeUntil) {
            lose();
        }
        return lost.isDone();
    }

    /** Completed the moment the session is lost. */
    public CompletableFuture<Session> lostFuture() {
        return lost;
    }

    /** Calls listener once, from the keepalive thread, the moment the session is lost. */
    public void onLost(Consumer<Session> listener) {
        listeners.add(listener);
        if (lost.isDone() && listeners.remove(listener)) {
            listener.accept(this);
        }
    }

    private void run() {
        while (!closed && !lost.isDone()) {
            long now = Dlock.nowMs();
            if (now >= safeUntil) {
                lose();
                return;
            }
            long delay = Math.min(nextAt, safeUntil) - now;
            if (delay > 0) {
                try {
                    Thread.sleep(delay);
                } catch (InterruptedException e) {
                    return;
                }
                continue;
            }
            long sent = Dlock.nowMs();
            try {
                client.execute(List.of("SESSION.KEEPALIVE", id), 0,
                        Math.max(100, Math.min(client.timeoutMs, safeUntil - sent)));
                long until = safeUntil(sent, ttlMs);
                if (until > safeUntil) {
                    safeUntil = until;
                }
                nextAt = sent + ttlMs / 3;
            } catch (DlockException.NoSessionException e) {
                lose();
                return;
            } catch (DlockException e) {
                nextAt = Dlock.nowMs() + Math.min(ttlMs / 3, 100);
            }
        }
    }

    void lose() {
        if (!lost.complete(this)) {
            return;
        }
        for (Hold h : holds) {
            h.lose();
        }
        for (Consumer<Session> l : listeners) {
            try {
                l.accept(this);
            } catch (RuntimeException e) {
                // a listener's failure is its own
            }
        }
        listeners.clear();
    }

    /** An exclusive lock of this session. */
    public DlockLock lock(String name) {
        return new DlockLock(this, name, false);
    }

    /** A shared (read) lock of this session. */
    public DlockLock sharedLock(String name) {
        return new DlockLock(this, name, true);
    }

    /** count permits of the semaphore name of permits. */
    public DlockSemaphore semaphore(String name, int permits, int count) {
        return new DlockSemaphore(this, name, permits, count);
    }

    /** Candidacy for leader of the election name, publishing value. */
    public Leadership leadership(String name, String value) {
        return new Leadership(this, name, value);
    }

    /** Closes the session: the server releases all it holds at once. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        keeper.interrupt();
        client.forget(this);
        if (lost.isDone()) {
            return;
        }
        try {
            client.execute(List.of("SESSION.CLOSE", id, "REQ", client.newReq()), 0, 0);
        } catch (DlockException e) {
            // ended already, or it ends with its lease
        } finally {
            lose();
        }
    }
}
