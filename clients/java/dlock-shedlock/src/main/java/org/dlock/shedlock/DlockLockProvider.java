package org.dlock.shedlock;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import net.javacrumbs.shedlock.core.LockConfiguration;
import net.javacrumbs.shedlock.core.LockProvider;
import net.javacrumbs.shedlock.core.SimpleLock;
import org.dlock.client.DlockClient;
import org.dlock.client.DlockLock;
import org.dlock.client.Session;

/**
 * A ShedLock {@link LockProvider} on dlock: each lock is held by a dlock
 * session of its own, kept alive while the task runs. So the lock ends with
 * its holder (a crashed or frozen node loses it within the session's TTL,
 * not at {@code lockAtMostFor}), and every run has a fencing token,
 * {@link #fencingToken()}, for the storage it writes.
 *
 * <p>{@code lockAtMostFor} is not needed to end the lock of a crashed node,
 * and is not used to cut a running task short; {@code lockAtLeastFor} is
 * kept: a task that ends earlier keeps the lock until then, its session
 * alive.
 *
 * <pre>{@code
 * LockProvider provider = new DlockLockProvider(DlockClient.builder()
 *         .servers("10.0.0.1:7411,10.0.0.2:7411,10.0.0.3:7411").build());
 * }</pre>
 */
public final class DlockLockProvider implements LockProvider, AutoCloseable {
    private static final ThreadLocal<Long> TOKEN = new ThreadLocal<>();

    private final DlockClient client;
    private final Duration ttl;
    private final ScheduledExecutorService later;

    /** Locks of sessions with a TTL of 10 s (a holder gone loses its locks within it). */
    public DlockLockProvider(DlockClient client) {
        this(client, Duration.ofSeconds(10));
    }

    public DlockLockProvider(DlockClient client, Duration sessionTtl) {
        this.client = client;
        this.ttl = sessionTtl;
        ScheduledThreadPoolExecutor ex = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "dlock-shedlock");
            t.setDaemon(true);
            return t;
        });
        ex.setRemoveOnCancelPolicy(true);
        this.later = ex;
    }

    /**
     * The fencing token of the lock the calling thread holds through this
     * provider (inside a task ShedLock runs), or empty.
     */
    public static Optional<Long> fencingToken() {
        return Optional.ofNullable(TOKEN.get());
    }

    @Override
    public Optional<SimpleLock> lock(LockConfiguration config) {
        Session session = client.openSession(ttl);
        DlockLock lock = session.lock(config.getName());
        boolean got;
        try {
            got = lock.tryLock();
        } catch (RuntimeException e) {
            session.close();
            throw e;
        }
        if (!got) {
            session.close();
            return Optional.empty();
        }
        TOKEN.set(lock.token());
        return Optional.of(new Held(session, config.getLockAtLeastUntil()));
    }

    private final class Held implements SimpleLock {
        private final Session session;
        private final Instant atLeastUntil;

        Held(Session session, Instant atLeastUntil) {
            this.session = session;
            this.atLeastUntil = atLeastUntil;
        }

        /** Ends the session (its lock is released), now or at lockAtLeastFor's end. */
        @Override
        public void unlock() {
            TOKEN.remove();
            long left = Duration.between(Instant.now(), atLeastUntil).toMillis();
            if (left <= 0) {
                session.close();
            } else {
                later.schedule(session::close, left, TimeUnit.MILLISECONDS);
            }
        }
    }

    /** Stops the provider's timer; the client stays the caller's. */
    @Override
    public void close() {
        later.shutdown();
    }
}
