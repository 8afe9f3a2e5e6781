package org.dlock.client;

/** The clock of every deadline of this library: monotonic milliseconds. */
public final class Dlock {
    private Dlock() {}

    /** Milliseconds of a monotonic clock (System.nanoTime), as safeUntil() gives them. */
    public static long nowMs() {
        return System.nanoTime() / 1_000_000L;
    }
}
