package org.dlock.client;

import java.time.Duration;
import java.util.List;

/** count permits of a semaphore of permits permits (docs/protocol.md §4, Semaphores). */
public final class DlockSemaphore extends HeldGrant<DlockSemaphore> {

    DlockSemaphore(Session session, String name, int permits, int count) {
        super(hold(session, name, permits, count));
    }

    private static Hold hold(Session session, String name, int permits, int count) {
        if (count < 1 || count > permits) {
            throw new IllegalArgumentException("count is 1 to permits");
        }
        String owner = Hold.threadOwner();
        return new Hold(session, name, owner) {
            @Override
            List<Object> acquireArgs() {
                return List.of("SEM.ACQUIRE", name, session.id(), permits, "COUNT", count, "OWNER", owner);
            }

            @Override
            List<Object> releaseArgs() {
                return List.of("SEM.RELEASE", name, session.id(), "COUNT", count, "OWNER", owner);
            }
        };
    }

    /** Takes the permits, waiting up to wait (zero: a try); returns the fencing token. */
    public long acquire(Duration wait) {
        return hold.acquire(wait.toMillis());
    }

    /** Waits up to wait; false if it ran out or (a try) no permits were free. */
    public boolean tryAcquire(Duration wait) {
        try {
            acquire(wait);
            return true;
        } catch (DlockException.LockHeldException | DlockException.WaitTimeoutException e) {
            return false;
        }
    }

    public void release() {
        hold.release();
    }
}
