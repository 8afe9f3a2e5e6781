package org.dlock.client;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * One grant of a session: a lock's (for one owner), a semaphore's permits,
 * an election's leadership. It knows its fencing token, until when it is
 * safe, and whether it was lost; it is acquired once and released once.
 */
abstract class Hold {
    final Session session;
    final String name;
    final String owner;
    private volatile long token;
    private volatile boolean held;
    private String pendingReq;
    private volatile CompletableFuture<Hold> lost = new CompletableFuture<>();
    private final List<Consumer<Hold>> listeners = new CopyOnWriteArrayList<>();

    Hold(Session session, String name, String owner) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("a name is 1 to 256 bytes");
        }
        this.session = session;
        this.name = name;
        this.owner = owner;
    }

    abstract List<Object> acquireArgs();

    abstract List<Object> releaseArgs();

    /** Acquires it (waitMs 0: a try) and returns the fencing token. */
    synchronized long acquire(long waitMs) {
        if (held) {
            throw new IllegalStateException(name + " is acquired already");
        }
        if (session.isLost()) {
            throw new DlockException.LockLostException("session " + session.id() + " is lost");
        }
        String req = pendingReq != null ? pendingReq : session.client.newReq();
        pendingReq = req; // kept until answered: a repeat after OutcomeUnknown is its retry
        List<Object> args = new ArrayList<>(acquireArgs());
        if (waitMs > 0) {
            args.add("WAIT");
            args.add(waitMs);
        }
        args.add("REQ");
        args.add(req);
        long t;
        try {
            t = (Long) session.client.execute(args, waitMs, 0);
        } catch (DlockException.NoSessionException e) {
            pendingReq = null;
            session.lose();
            throw new DlockException.LockLostException("session " + session.id() + " has ended");
        } catch (DlockException.ServerException e) {
            pendingReq = null;
            throw e;
        }
        pendingReq = null;
        token = t;
        held = true;
        if (lost.isDone()) {
            lost = new CompletableFuture<>();
        }
        session.holds.add(this);
        if (session.isLost()) {
            lose();
        }
        return t;
    }

    /** Releases it; LockLostException if it was lost before (the server is told all the same). */
    synchronized void release() {
        if (!held) {
            throw new IllegalMonitorStateException(name + " is not held");
        }
        held = false;
        session.holds.remove(this);
        boolean wasLost = lost.isDone() || session.isLost();
        List<Object> args = new ArrayList<>(releaseArgs());
        args.add("REQ");
        args.add(session.client.newReq());
        try {
            session.client.execute(args, 0, 0);
        } catch (DlockException.NotHeldException | DlockException.NoSessionException e) {
            wasLost = true;
        } catch (DlockException.UnavailableException e) {
            if (!wasLost) {
                throw e;
            }
        }
        if (wasLost) {
            throw new DlockException.LockLostException(name + " was lost before its release");
        }
    }

    long token() {
        return token;
    }

    boolean held() {
        return held;
    }

    long safeUntil() {
        return !held || isLost() ? 0 : session.safeUntil();
    }

    boolean isLost() {
        if (held && !lost.isDone() && session.isLost()) {
            lose();
        }
        return lost.isDone();
    }

    CompletableFuture<Hold> lostFuture() {
        return lost;
    }

    void onLost(Consumer<Hold> listener) {
        listeners.add(listener);
        if (lost.isDone() && listeners.remove(listener)) {
            listener.accept(this);
        }
    }

    void check() {
        if (!held || isLost()) {
            throw new DlockException.LockLostException(name + " is not held");
        }
    }

    void lose() {
        if (!held || !lost.complete(this)) {
            return;
        }
        for (Consumer<Hold> l : listeners) {
            try {
                l.accept(this);
            } catch (RuntimeException e) {
                // a listener's failure is its own
            }
        }
        listeners.clear();
    }

    static String threadOwner() {
        return "java-" + ProcessHandle.current().pid() + "-" + Thread.currentThread().getId();
    }
}
