package org.dlock.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** On a 3-node cluster: a held lock and a wait both survive a leader kill. */
class ClusterTest {
    @Test
    void heldAndWaitingAcrossALeaderKill() throws Exception {
        try (Servers s = Servers.cluster(3)) {
            int leader = s.leader();
            List<String> order = new ArrayList<>(s.addrs);
            order.add(0, order.remove((leader + 1) % 3)); // a follower first
            String list = String.join(",", order);
            try (DlockClient a = DlockClient.builder().servers(list).sessionTtl(Duration.ofSeconds(3))
                    .build();
                    DlockClient b = DlockClient.builder().servers(list).sessionTtl(Duration.ofSeconds(3))
                            .build()) {
                DlockLock held = a.lock("across");
                held.lock();
                long t1 = held.token();
                assertEquals(s.addrs.get(leader), a.lastServer());
                DlockLock waiter = b.lock("across");
                AtomicLong got = new AtomicLong();
                Thread t = new Thread(() -> {
                    if (waiter.tryLock(Duration.ofSeconds(20))) {
                        got.set(waiter.token());
                        waiter.unlock();
                    }
                });
                t.start();
                Servers.sleep(500);
                s.kill(leader);
                s.leader();
                assertEquals(t1, a.lockStatus("across").get("token"));
                Servers.sleep(1500); // keepalives at the new leader
                assertFalse(held.isLost());
                held.unlock();
                t.join(20000);
                assertTrue(got.get() > t1, "the waiter kept its place and got the lock");
                assertEquals(0L, a.lockStatus("across").get("waiters"));
            }
        }
    }
}
