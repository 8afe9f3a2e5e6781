package org.dlock.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Watches against a real dlockd: every change in order, from now or after a revision. */
class WatchTest {
    @Test
    void changesInOrder() throws Exception {
        try (Servers s = Servers.single();
                DlockClient c = DlockClient.builder().servers(s.addrs.get(0)).build()) {
            Watch w = c.watch("w");
            assertNull(w.next(Duration.ofMillis(100)));
            DlockLock l = c.lock("w");
            l.lock();
            long token = l.token();
            l.unlock();
            Watch.Change g = w.next(Duration.ofSeconds(5));
            Watch.Change r = w.next(Duration.ofSeconds(5));
            assertEquals("granted", g.event());
            assertEquals(token, g.token());
            assertEquals(1, g.holders());
            assertEquals("released", r.event());
            assertEquals(0, r.holders());
            assertTrue(r.revision() > g.revision());
            Watch again = c.watch("w", g.revision() - 1);
            assertEquals(g.revision(), again.next(Duration.ofSeconds(5)).revision());
            assertEquals(r.revision(), again.next(Duration.ofSeconds(5)).revision());
        }
    }
}
