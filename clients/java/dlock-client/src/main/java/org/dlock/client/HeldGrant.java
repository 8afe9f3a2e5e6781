package org.dlock.client;

import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * What a grant tells its holder, whatever it holds (a semaphore's permits,
 * an election's leadership): its fencing token, until when it is safe, and
 * whether it was lost.
 *
 * @param <T> the grant's own type, which the loss notices carry
 */
public abstract class HeldGrant<T extends HeldGrant<T>> {
    final Hold hold;

    HeldGrant(Hold hold) {
        this.hold = hold;
    }

    @SuppressWarnings("unchecked")
    private T self() {
        return (T) this;
    }

    /** The grant's fencing token. */
    public long token() {
        return hold.token();
    }

    /** Until when ({@link Dlock#nowMs()}) it is known held; 0 once lost or released. */
    public long safeUntil() {
        return hold.safeUntil();
    }

    /** Whether it was lost. */
    public boolean isLost() {
        return hold.isLost();
    }

    /** Completed the moment it is lost. */
    public CompletableFuture<T> lostFuture() {
        return hold.lostFuture().thenApply(h -> self());
    }

    /** Calls listener once, from the keepalive thread, the moment it is lost. */
    public void onLost(Consumer<T> listener) {
        hold.onLost(h -> listener.accept(self()));
    }
}
