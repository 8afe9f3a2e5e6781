package org.dlock.client;

import java.time.Duration;
import java.util.List;

/**
 * Leadership of an election (docs/protocol.md §4, Elections): {@link
 * #campaign} stands for leader, waiting in FIFO order behind the other
 * candidates; the token is the leadership token, to fence the leader's
 * writes; {@link #proclaim} publishes a value; {@link #resign} steps down.
 */
public final class Leadership extends HeldGrant<Leadership> {
    private final Session session;
    private final String name;

    Leadership(Session session, String name, String value) {
        super(hold(session, name, value));
        this.session = session;
        this.name = name;
    }

    private static Hold hold(Session session, String name, String value) {
        String owner = Hold.threadOwner();
        return new Hold(session, name, owner) {
            @Override
            List<Object> acquireArgs() {
                return List.of("ELECT.CAMPAIGN", name, session.id(), value, "OWNER", owner);
            }

            @Override
            List<Object> releaseArgs() {
                return List.of("ELECT.RESIGN", name, session.id(), "OWNER", owner);
            }
        };
    }

    /** Campaigns, waiting up to wait (zero: a try); returns the leadership token once elected. */
    public long campaign(Duration wait) {
        return hold.acquire(wait.toMillis());
    }

    /** Publishes a new value; LockLostException if it no longer leads. */
    public void proclaim(String value) {
        hold.check();
        try {
            session.client.execute(List.of("ELECT.PROCLAIM", name, session.id(), hold.token(), value,
                    "REQ", session.client.newReq()), 0, 0);
        } catch (DlockException.NotHeldException e) {
            hold.lose();
            throw new DlockException.LockLostException("no longer the leader of " + name);
        }
    }

    public void resign() {
        hold.release();
    }
}
