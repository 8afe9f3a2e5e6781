package org.dlock.shedlock;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.dlock.client.Snippets;
import org.dlock.client.TestServers;
import org.junit.jupiter.api.Test;

/** The ShedLock example of clients/java/README.md, compiled and run as printed. */
class ReadmeTest {
    @Test
    void theExampleRuns() throws Exception {
        try (TestServers s = TestServers.single()) {
            String code = Snippets.example(Path.of("../README.md"), "## ShedLock")
                    .replace("10.0.0.1:7411,10.0.0.2:7411,10.0.0.3:7411", s.addr(0))
                    + "java.util.Optional<net.javacrumbs.shedlock.core.SimpleLock> l = provider.lock(\n"
                    + "    new net.javacrumbs.shedlock.core.LockConfiguration(java.time.Instant.now(),\n"
                    + "        \"readme\", Duration.ofMinutes(1), Duration.ZERO));\n"
                    + "sendGreetings(DlockLockProvider.fencingToken().orElse(0L));\n"
                    + "l.get().unlock();\n";
            assertTrue(Snippets.run(code, "import org.dlock.client.*;\nimport org.dlock.shedlock.*;\n"
                    + "import net.javacrumbs.shedlock.core.LockProvider;").get(0) >= 1);
        }
    }
}
