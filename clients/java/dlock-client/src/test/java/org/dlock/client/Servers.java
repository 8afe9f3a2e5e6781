package org.dlock.client;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Real dlockd processes for the tests, on 127.0.0.1 with ephemeral ports
 * and a temporary directory each, stopped by their pid: $DLOCKD (the
 * build's dlockd by default).
 */
final class Servers implements AutoCloseable {
    final List<String> addrs = new ArrayList<>();
    private final List<Process> procs = new ArrayList<>();
    private final List<List<String>> argvs = new ArrayList<>();
    private final Path dir;

    private Servers(int n, String... extra) throws IOException {
        dir = Files.createTempDirectory("dlock-java-");
        int[] ports = new int[n];
        int[] raft = new int[n];
        StringBuilder peers = new StringBuilder();
        for (int i = 0; i < n; i++) {
            ports[i] = freePort();
            raft[i] = freePort();
            peers.append(i == 0 ? "" : ",").append(i + 1).append("=127.0.0.1:").append(raft[i]);
        }
        for (int i = 0; i < n; i++) {
            List<String> argv = new ArrayList<>(List.of(dlockd(), "--id", String.valueOf(i + 1),
                    "--listen", "127.0.0.1:" + ports[i], "--raft", "127.0.0.1:" + raft[i],
                    "--data", dir.resolve("n" + (i + 1)).toString(), "--election-ms", "300",
                    "--heartbeat-ms", "30", "--log-level", "warn", "--http", "off"));
            if (n > 1) {
                argv.add("--peers");
                argv.add(peers.toString());
            }
            argv.addAll(List.of(extra));
            argvs.add(argv);
            addrs.add("127.0.0.1:" + ports[i]);
            procs.add(null);
            start(i);
        }
        boolean tls = List.of(extra).contains("--tls-cert-file");
        for (String a : addrs) {
            waitPing(a, tls);
        }
        if (!tls) {
            leader();
        }
    }

    static Servers single(String... extra) throws IOException {
        return new Servers(1, extra);
    }

    static Servers cluster(int n) throws IOException {
        return new Servers(n);
    }

    static String dlockd() {
        String p = System.getenv("DLOCKD");
        if (p == null || p.isEmpty() || p.startsWith("$")) {
            p = "../../../build/dlockd";
        }
        return Path.of(p).toAbsolutePath().toString();
    }

    private void start(int i) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(argvs.get(i));
        pb.redirectErrorStream(true);
        pb.redirectOutput(dir.resolve("n" + (i + 1) + ".log").toFile());
        procs.set(i, pb.start());
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** Waits until addr answers PING (with TLS on the port: accepts a connection). */
    private static void waitPing(String addr, boolean tls) {
        long end = Dlock.nowMs() + 15000;
        while (Dlock.nowMs() < end) {
            if (tls) {
                String[] hp = DlockClient.splitAddr(addr);
                try (java.net.Socket s = new java.net.Socket(hp[0], Integer.parseInt(hp[1]))) {
                    s.getOutputStream().flush();
                    return;
                } catch (IOException e) {
                    sleep(20);
                    continue;
                }
            }
            try (Conn c = new Conn(addr, 1000, null, null, null)) {
                if ("PONG".equals(c.call(List.of("PING"), 1000))) {
                    return;
                }
            } catch (IOException e) {
                // not yet
            }
            sleep(20);
        }
        throw new IllegalStateException("dlockd at " + addr + " did not start");
    }

    /** The index of the server that leads now (waits for one). */
    int leader() {
        long end = Dlock.nowMs() + 15000;
        while (Dlock.nowMs() < end) {
            for (int i = 0; i < addrs.size(); i++) {
                if (procs.get(i) == null || !procs.get(i).isAlive()) {
                    continue;
                }
                try (Conn c = new Conn(addrs.get(i), 1000, null, null, null)) {
                    Object r = c.call(List.of("LOCK.STATUS", "leader-probe"), 1000);
                    if (r instanceof List) {
                        return i;
                    }
                } catch (IOException e) {
                    // down
                }
            }
            sleep(50);
        }
        throw new IllegalStateException("no leader");
    }

    void kill(int i) {
        procs.get(i).destroyForcibly();
        try {
            procs.get(i).waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    void signal(int i, String sig) throws IOException, InterruptedException {
        new ProcessBuilder("kill", "-" + sig, String.valueOf(procs.get(i).pid())).start().waitFor();
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws IOException {
        for (Process p : procs) {
            if (p != null && p.isAlive()) {
                ProcessHandle.of(p.pid()).ifPresent(h -> {
                    try {
                        new ProcessBuilder("kill", "-CONT", String.valueOf(h.pid())).start().waitFor();
                    } catch (IOException | InterruptedException e) {
                        // gone
                    }
                });
                p.destroy();
            }
        }
        for (Process p : procs) {
            if (p != null) {
                try {
                    p.waitFor();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }
}
