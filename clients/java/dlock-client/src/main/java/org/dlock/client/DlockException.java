package org.dlock.client;

/**
 * Anything the client throws. A server's error is a {@link ServerException}
 * subclass named for its code word (docs/protocol.md §2).
 */
public class DlockException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DlockException(String message) {
        super(message);
    }

    public DlockException(String message, Throwable cause) {
        super(message, cause);
    }

    /** A server's answer that is an error; {@link #code()} is its first word. */
    public static class ServerException extends DlockException {
        private static final long serialVersionUID = 1L;

        public ServerException(String message) {
            super(message);
        }

        public String code() {
            String m = getMessage();
            int sp = m.indexOf(' ');
            return sp < 0 ? m : m.substring(0, sp);
        }
    }

    /** HELD: a try found the lock held. */
    public static class LockHeldException extends ServerException {
        private static final long serialVersionUID = 1L;

        public LockHeldException(String m) {
            super(m);
        }
    }

    /** TIMEOUT: the wait ran out before the lock was granted. */
    public static class WaitTimeoutException extends ServerException {
        private static final long serialVersionUID = 1L;

        public WaitTimeoutException(String m) {
            super(m);
        }
    }

    /** NOSESSION: the session has ended; its locks are lost. */
    public static class NoSessionException extends ServerException {
        private static final long serialVersionUID = 1L;

        public NoSessionException(String m) {
            super(m);
        }
    }

    /** NOTHELD: a release by someone who does not hold it. */
    public static class NotHeldException extends ServerException {
        private static final long serialVersionUID = 1L;

        public NotHeldException(String m) {
            super(m);
        }
    }

    /** KIND: the name is a lock's, a semaphore's or an election's, not this kind's. */
    public static class KindException extends ServerException {
        private static final long serialVersionUID = 1L;

        public KindException(String m) {
            super(m);
        }
    }

    /** WRONGPASS or NOAUTH: fix the user and password. */
    public static class AuthException extends ServerException {
        private static final long serialVersionUID = 1L;

        public AuthException(String m) {
            super(m);
        }
    }

    /** No server could be reached, or none answered in time. */
    public static class UnavailableException extends DlockException {
        private static final long serialVersionUID = 1L;

        public UnavailableException(String m) {
            super(m);
        }
    }

    /** A write went out and no answer came in time: calling it again is safe. */
    public static class OutcomeUnknownException extends UnavailableException {
        private static final long serialVersionUID = 1L;

        public OutcomeUnknownException(String m) {
            super(m);
        }
    }

    /** The lock can no longer be proven held: stop the work it protects. */
    public static class LockLostException extends DlockException {
        private static final long serialVersionUID = 1L;

        public LockLostException(String m) {
            super(m);
        }
    }

    static ServerException fromReply(String message) {
        String code = message.split(" ", 2)[0];
        switch (code) {
            case "HELD":
                return new LockHeldException(message);
            case "TIMEOUT":
                return new WaitTimeoutException(message);
            case "NOSESSION":
                return new NoSessionException(message);
            case "NOTHELD":
                return new NotHeldException(message);
            case "KIND":
                return new KindException(message);
            case "WRONGPASS":
            case "NOAUTH":
                return new AuthException(message);
            default:
                return new ServerException(message);
        }
    }
}
