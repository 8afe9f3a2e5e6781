package org.dlock.client;

import java.io.IOException;

/** The test harness's dlockd processes, for the other modules' tests (dlock-shedlock). */
public final class TestServers implements AutoCloseable {
    private final Servers servers;

    private TestServers(Servers s) {
        this.servers = s;
    }

    public static TestServers single() throws IOException {
        return new TestServers(Servers.single());
    }

    public String addr(int i) {
        return servers.addrs.get(i);
    }

    @Override
    public void close() throws IOException {
        servers.close();
    }
}
