package org.dlock.shedlock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import net.javacrumbs.shedlock.core.DefaultLockingTaskExecutor;
import net.javacrumbs.shedlock.core.LockConfiguration;
import net.javacrumbs.shedlock.core.SimpleLock;
import org.dlock.client.DlockClient;
import org.dlock.client.TestServers;
import org.junit.jupiter.api.Test;

/** ShedLock on dlock against a real dlockd. */
class DlockLockProviderTest {
    static LockConfiguration config(String name, Duration atLeast) {
        return new LockConfiguration(Instant.now(), name, Duration.ofMinutes(10), atLeast);
    }

    @Test
    void oneHolderAtATimeWithAFencingToken() throws Exception {
        try (TestServers s = TestServers.single();
                DlockClient a = DlockClient.builder().servers(s.addr(0)).build();
                DlockClient b = DlockClient.builder().servers(s.addr(0)).build();
                DlockLockProvider pa = new DlockLockProvider(a, Duration.ofSeconds(2));
                DlockLockProvider pb = new DlockLockProvider(b, Duration.ofSeconds(2))) {
            Optional<SimpleLock> first = pa.lock(config("report", Duration.ZERO));
            assertTrue(first.isPresent());
            long token = DlockLockProvider.fencingToken().orElseThrow();
            assertTrue(token >= 1);
            assertFalse(pb.lock(config("report", Duration.ZERO)).isPresent());
            first.get().unlock();
            assertFalse(DlockLockProvider.fencingToken().isPresent());
            Optional<SimpleLock> second = pb.lock(config("report", Duration.ZERO));
            assertTrue(second.isPresent());
            assertTrue(DlockLockProvider.fencingToken().orElseThrow() > token);
            second.get().unlock();
        }
    }

    @Test
    void lockAtLeastForIsKept() throws Exception {
        try (TestServers s = TestServers.single();
                DlockClient a = DlockClient.builder().servers(s.addr(0)).build();
                DlockLockProvider p = new DlockLockProvider(a, Duration.ofSeconds(2))) {
            p.lock(config("atleast", Duration.ofMillis(800))).orElseThrow().unlock();
            assertFalse(p.lock(config("atleast", Duration.ZERO)).isPresent());
            Thread.sleep(1200);
            Optional<SimpleLock> again = p.lock(config("atleast", Duration.ZERO));
            assertTrue(again.isPresent());
            again.get().unlock();
        }
    }

    @Test
    void theTaskExecutorRunsItOnce() throws Exception {
        try (TestServers s = TestServers.single();
                DlockClient a = DlockClient.builder().servers(s.addr(0)).build();
                DlockLockProvider p = new DlockLockProvider(a, Duration.ofSeconds(2))) {
            DefaultLockingTaskExecutor executor = new DefaultLockingTaskExecutor(p);
            AtomicInteger runs = new AtomicInteger();
            Runnable task = () -> {
                runs.incrementAndGet();
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            };
            // Two nodes' schedulers fire at once: one runs the task, the other skips it.
            Thread other = new Thread(() -> executor.executeWithLock(task, config("job", Duration.ZERO)));
            other.start();
            Thread.sleep(100);
            executor.executeWithLock(task, config("job", Duration.ZERO));
            other.join();
            assertEquals(1, runs.get());
        }
    }

    @Test
    void aHolderGoneLosesItsLock() throws Exception {
        try (TestServers s = TestServers.single();
                DlockClient b = DlockClient.builder().servers(s.addr(0)).build();
                DlockLockProvider pb = new DlockLockProvider(b, Duration.ofSeconds(1))) {
            DlockClient a = DlockClient.builder().servers(s.addr(0)).build();
            DlockLockProvider pa = new DlockLockProvider(a, Duration.ofSeconds(1));
            assertTrue(pa.lock(config("crash", Duration.ZERO)).isPresent());
            a.close(); // the node goes away without unlocking: its session ends
            assertTrue(pb.lock(config("crash", Duration.ZERO)).isPresent());
            pa.close();
        }
    }
}
