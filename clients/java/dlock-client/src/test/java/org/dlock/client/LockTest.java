package org.dlock.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Lock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The client against one real dlockd. */
class LockTest {
    static Servers servers;

    @BeforeAll
    static void start() throws Exception {
        servers = Servers.single();
    }

    @AfterAll
    static void stop() throws Exception {
        servers.close();
    }

    static DlockClient client() {
        return DlockClient.builder().servers(servers.addrs.get(0)).timeout(Duration.ofSeconds(5))
                .sessionTtl(Duration.ofSeconds(2)).build();
    }

    @Test
    void tryLockTokenAndOtherSessions() {
        try (DlockClient a = client(); DlockClient b = client()) {
            DlockLock l = a.lock("t");
            assertTrue(l.tryLock());
            long token = l.token();
            assertTrue(l.safeUntil() > Dlock.nowMs());
            assertFalse(b.lock("t").tryLock());
            l.unlock();
            DlockLock again = b.lock("t");
            assertTrue(again.tryLock());
            assertTrue(again.token() > token);
            again.unlock();
        }
    }

    @Test
    void aLockAcrossThreadsOfOneProcess() throws Exception {
        try (DlockClient c = client()) {
            Lock l = c.lock("threads");
            l.lock();
            l.lock(); // reentrant
            CompletableFuture<Boolean> other = CompletableFuture.supplyAsync(() -> l.tryLock());
            assertFalse(other.get(5, TimeUnit.SECONDS));
            l.unlock();
            assertEquals(1L, c.lockStatus("threads").get("held"));
            l.unlock();
            assertEquals(0L, c.lockStatus("threads").get("held"));
            assertThrows(IllegalMonitorStateException.class, l::unlock);
            assertThrows(UnsupportedOperationException.class, l::newCondition);
        }
    }

    @Test
    void aWaiterIsHandedTheLock() throws Exception {
        try (DlockClient a = client(); DlockClient b = client()) {
            DlockLock held = a.lock("hot");
            held.lock();
            long t1 = held.token();
            DlockLock waiter = b.lock("hot");
            AtomicLong got = new AtomicLong();
            Thread t = new Thread(() -> {
                try {
                    if (waiter.tryLock(5, TimeUnit.SECONDS)) {
                        got.set(waiter.token());
                        waiter.unlock();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            t.start();
            Servers.sleep(300);
            held.unlock();
            t.join(5000);
            assertTrue(got.get() > t1);
        }
    }

    @Test
    void toldWhenLost() throws Exception {
        try (DlockClient c = client()) {
            DlockLock l = c.lock("lost");
            l.lock();
            CompletableFuture<DlockLock> f = l.lostFuture();
            CompletableFuture<Boolean> called = new CompletableFuture<>();
            l.onLost(x -> called.complete(true));
            c.execute("SESSION.CLOSE", c.session().id());
            assertEquals(l, f.get(3, TimeUnit.SECONDS));
            assertTrue(called.get(1, TimeUnit.SECONDS));
            assertEquals(0, l.safeUntil());
            assertThrows(DlockException.LockLostException.class, l::check);
            assertThrows(DlockException.LockLostException.class, l::unlock);
            DlockLock again = c.lock("lost"); // a new session
            assertTrue(again.tryLock());
            again.unlock();
        }
    }

    @Test
    void semaphoresAndElections() {
        try (DlockClient a = client(); DlockClient b = client()) {
            DlockSemaphore p1 = a.semaphore("slots", 2, 1);
            DlockSemaphore p2 = b.semaphore("slots", 2, 1);
            p1.acquire(Duration.ZERO);
            p2.acquire(Duration.ZERO);
            assertFalse(a.openSession(Duration.ofSeconds(2)).semaphore("slots", 2, 1)
                    .tryAcquire(Duration.ZERO));
            assertThrows(DlockException.KindException.class, () -> a.lock("slots").tryLock());
            p1.release();
            p2.release();
            Leadership lead = a.leadership("primary", "10.0.0.1");
            lead.campaign(Duration.ZERO);
            assertEquals("10.0.0.1", a.leader("primary").get("value"));
            lead.proclaim("10.0.0.2");
            assertEquals("10.0.0.2", b.leader("primary").get("value"));
            assertThrows(DlockException.LockHeldException.class,
                    () -> b.leadership("primary", "x").campaign(Duration.ZERO));
            lead.resign();
            assertEquals(0L, a.leader("primary").get("leader"));
        }
    }

    @Test
    void nothingListeningIsSaidAtOnce() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        DlockClient c = DlockClient.builder().servers("127.0.0.1:" + port).build();
        long t0 = Dlock.nowMs();
        DlockException.UnavailableException e = assertThrows(DlockException.UnavailableException.class,
                () -> c.lockStatus("x"));
        assertTrue(e.getMessage().contains("nothing is listening"));
        assertTrue(Dlock.nowMs() - t0 < 2000);
        assertThrows(IllegalArgumentException.class, () -> DlockClient.builder().servers("no-port").build());
    }
}
