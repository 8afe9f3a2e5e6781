package org.dlock.client;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.Lock;
import java.util.function.Consumer;

/**
 * A lock held across machines, as a {@link Lock}: held by a thread (its
 * owner within the session), reentrant, released by the thread that holds
 * it. Beyond Lock it has the grant's fencing token ({@link #token()}),
 * until when it is safe ({@link #safeUntil()}), and a future and listeners
 * told when it is lost.
 *
 * <p>Where the Lock contract cannot hold: {@link #newCondition()} throws
 * UnsupportedOperationException (there are no condition variables across
 * machines); {@link #lock()} can throw a {@link DlockException} (no server
 * reachable, or the session lost), as no local lock does; and a lock can be
 * lost while held (its session's lease unproven): {@link #unlock()} then
 * throws {@link DlockException.LockLostException}.
 */
public final class DlockLock implements Lock {
    private static final long MAX_WAIT_MS = 86_400_000L;

    private final Session session;
    private final String name;
    private final boolean shared;
    private final Map<Long, Grant> grants = new ConcurrentHashMap<>();

    /** The calling thread's grant, with its hold count. */
    private final class Grant extends Hold {
        int depth;
        boolean isShared;

        Grant() {
            super(DlockLock.this.session, DlockLock.this.name, Hold.threadOwner());
            isShared = shared;
        }

        @Override
        List<Object> acquireArgs() {
            return isShared ? List.of("LOCK.ACQUIRE", name, session.id(), "OWNER", owner, "SHARED")
                    : List.of("LOCK.ACQUIRE", name, session.id(), "OWNER", owner);
        }

        @Override
        List<Object> releaseArgs() {
            return isShared ? List.of("LOCK.RELEASE", name, session.id(), "OWNER", owner, "SHARED")
                    : List.of("LOCK.RELEASE", name, session.id(), "OWNER", owner);
        }
    }

    DlockLock(Session session, String name, boolean shared) {
        this.session = session;
        this.name = name;
        this.shared = shared;
    }

    private List<Object> withReq(List<Object> args) {
        List<Object> l = new ArrayList<>(args);
        l.add("REQ");
        l.add(session.client.newReq());
        return l;
    }

    private Grant grant() {
        return grants.computeIfAbsent(Thread.currentThread().getId(), k -> new Grant());
    }

    /** Acquires it, waiting up to wait (zero: a try); returns the fencing token. */
    public long acquire(Duration wait) {
        Grant g = grant();
        if (g.depth > 0) { // reentry: one more hold, the same token
            session.client.execute(withReq(g.acquireArgs()), 0, 0);
            g.depth++;
            return g.token();
        }
        long t = g.acquire(wait.toMillis());
        g.depth = 1;
        return t;
    }

    @Override
    public void lock() {
        while (true) {
            try {
                acquire(Duration.ofMillis(MAX_WAIT_MS));
                return;
            } catch (DlockException.WaitTimeoutException e) {
                // a day went by: wait on
            }
        }
    }

    @Override
    public void lockInterruptibly() throws InterruptedException {
        if (Thread.interrupted()) {
            throw new InterruptedException();
        }
        try {
            lock();
        } catch (DlockException e) {
            if (Thread.interrupted()) {
                throw new InterruptedException("interrupted while waiting for " + name);
            }
            throw e;
        }
    }

    @Override
    public boolean tryLock() {
        try {
            acquire(Duration.ZERO);
            return true;
        } catch (DlockException.LockHeldException e) {
            return false;
        }
    }

    /** Waits up to wait in the lock's FIFO queue; false if it ran out. */
    public boolean tryLock(Duration wait) {
        try {
            acquire(wait);
            return true;
        } catch (DlockException.LockHeldException | DlockException.WaitTimeoutException e) {
            return false;
        }
    }

    @Override
    public boolean tryLock(long time, TimeUnit unit) throws InterruptedException {
        if (Thread.interrupted()) {
            throw new InterruptedException();
        }
        try {
            return tryLock(Duration.ofNanos(unit.toNanos(time)));
        } catch (DlockException e) {
            if (Thread.interrupted()) {
                throw new InterruptedException("interrupted while waiting for " + name);
            }
            throw e;
        }
    }

    @Override
    public void unlock() {
        Grant g = grants.get(Thread.currentThread().getId());
        if (g == null || g.depth == 0) {
            throw new IllegalMonitorStateException(name + " is not held by this thread");
        }
        if (g.depth > 1) {
            session.client.execute(withReq(g.releaseArgs()), 0, 0);
            g.depth--;
            return;
        }
        g.depth = 0;
        grants.remove(Thread.currentThread().getId());
        g.release();
    }

    /** Not supported: there are no condition variables across machines. */
    @Override
    public Condition newCondition() {
        throw new UnsupportedOperationException("a dlock lock has no conditions");
    }

    /** Turns the calling thread's exclusive hold into a shared one, in place, keeping the token. */
    public void downgrade() {
        Grant g = grants.get(Thread.currentThread().getId());
        if (g == null || g.depth == 0 || g.isShared) {
            throw new IllegalMonitorStateException("only an exclusive lock held downgrades");
        }
        g.check();
        session.client.execute(withReq(List.of("LOCK.DOWNGRADE", name, session.id(), "OWNER",
                g.owner)), 0, 0);
        g.isShared = true;
    }

    private Grant current() {
        Grant g = grants.get(Thread.currentThread().getId());
        if (g == null) {
            throw new IllegalMonitorStateException(name + " is not held by this thread");
        }
        return g;
    }

    public String name() {
        return name;
    }

    /** The fencing token of the calling thread's grant. */
    public long token() {
        return current().token();
    }

    /** Until when ({@link Dlock#nowMs()}) the calling thread's grant is known held; 0 once lost. */
    public long safeUntil() {
        Grant g = grants.get(Thread.currentThread().getId());
        return g == null ? 0 : g.safeUntil();
    }

    /** Whether the calling thread's grant was lost. */
    public boolean isLost() {
        return current().isLost();
    }

    /** Throws LockLostException unless the calling thread holds it within safe-until. */
    public void check() {
        current().check();
    }

    /** Completed the moment the calling thread's grant is lost. */
    public CompletableFuture<DlockLock> lostFuture() {
        return current().lostFuture().thenApply(h -> this);
    }

    /** Calls listener once, from the keepalive thread, the moment the calling thread's grant is lost. */
    public void onLost(Consumer<DlockLock> listener) {
        current().onLost(h -> listener.accept(this));
    }
}
