package org.dlock.client;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;

/**
 * The changes of a name's holders, in the order the cluster applied them,
 * each with its revision (docs/protocol.md §4, Watches): {@link #next}
 * gives them one at a time, from the moment the watch was made or after a
 * revision, with nothing missed across failures (it reads with WATCH.NEXT
 * from the last revision given).
 */
public final class Watch {
    /**
     * One change: its revision; its event (granted, released, lost,
     * withdrawn, downgraded, proclaimed; gone: the changes before revision
     * are no longer kept, read the state and go on); the hold it is about
     * (session, owner, token, its exclusive and shared holds after it); the
     * name's holders after it, and an election's value.
     */
    public record Change(String name, long revision, String event, long session, String owner,
            long token, long exclusive, long shared, long holders, String value) {}

    private final DlockClient client;
    private final String name;
    private long revision;
    private final ArrayDeque<Change> pending = new ArrayDeque<>();

    Watch(DlockClient client, String name, Long fromRevision) {
        this.client = client;
        this.name = name;
        if (fromRevision != null) {
            this.revision = fromRevision;
        } else {
            String info = new String((byte[]) client.execute("INFO", "raft"), StandardCharsets.UTF_8);
            long applied = 0;
            for (String line : info.split("\r?\n")) {
                if (line.startsWith("applied_index:")) {
                    applied = Long.parseLong(line.substring(14).trim());
                }
            }
            this.revision = applied;
        }
    }

    /** The revision of the last change given (or the one the watch started after). */
    public long revision() {
        return revision;
    }

    /** The next change, waiting up to timeout; null if none came. */
    public Change next(Duration timeout) {
        if (!pending.isEmpty()) {
            return pending.poll();
        }
        long wait = Math.max(1, timeout.toMillis());
        Object reply = client.execute(List.of("WATCH.NEXT", name, revision, "WAIT", wait), wait, 0);
        if (reply == null) {
            return null;
        }
        for (Object o : (List<?>) reply) {
            List<?> a = (List<?>) o;
            Change c = new Change(text(a.get(1)), (Long) a.get(2), text(a.get(3)), (Long) a.get(4),
                    text(a.get(5)), (Long) a.get(6), (Long) a.get(7), (Long) a.get(8), (Long) a.get(9),
                    text(a.get(10)));
            pending.add(c);
            revision = Math.max(revision, c.revision());
        }
        return pending.poll();
    }

    private static String text(Object o) {
        return o instanceof byte[] ? new String((byte[]) o, StandardCharsets.UTF_8) : String.valueOf(o);
    }
}
