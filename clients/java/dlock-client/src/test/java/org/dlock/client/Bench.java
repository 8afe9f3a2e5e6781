package org.dlock.client;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The bench workloads with the Java client (bench/clients.py runs it beside
 * the others): U, each client its own lock (acquire, release); H, one hot
 * lock (acquire waiting, release). Prints one line as dlock-bench does.
 *
 * <pre>java -cp ... org.dlock.client.Bench SERVERS U|H CLIENTS SECONDS WARMUP_SECONDS</pre>
 */
public final class Bench {
    private Bench() {}

    public static void main(String[] args) throws Exception {
        String servers = args[0];
        String workload = args[1];
        int clients = Integer.parseInt(args[2]);
        double duration = Double.parseDouble(args[3]);
        double warmup = Double.parseDouble(args[4]);
        try (DlockClient client = DlockClient.builder().servers(servers).build()) {
            List<Session> sessions = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                sessions.add(client.openSession(Duration.ofSeconds(10)));
            }
            long startAt = Dlock.nowMs() + (long) (warmup * 1000);
            long stopAt = startAt + (long) (duration * 1000);
            long[][] lat = new long[clients][];
            int[] ops = new int[clients];
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                int id = i;
                Thread t = new Thread(() -> {
                    DlockLock lock = sessions.get(id).lock(workload.equals("U") ? "java-u-" + id : "java-hot");
                    long[] mine = new long[1 << 16];
                    int n = 0;
                    while (true) {
                        long t0 = System.nanoTime();
                        if (t0 / 1_000_000 >= stopAt) {
                            break;
                        }
                        lock.acquire(workload.equals("U") ? Duration.ZERO : Duration.ofSeconds(10));
                        long t1 = System.nanoTime();
                        lock.unlock();
                        if (t0 / 1_000_000 >= startAt && n < mine.length) {
                            mine[n++] = t1 - t0;
                        }
                    }
                    lat[id] = Arrays.copyOf(mine, n);
                    ops[id] = n;
                });
                threads.add(t);
                t.start();
            }
            for (Thread t : threads) {
                t.join();
            }
            long total = Arrays.stream(ops).sum();
            long[] all = Arrays.stream(lat).flatMapToLong(Arrays::stream).sorted().toArray();
            long p50 = all.length == 0 ? 0 : all[all.length / 2] / 1000;
            long p99 = all.length == 0 ? 0 : all[Math.min(all.length - 1, (int) (all.length * 0.99))] / 1000;
            System.out.printf("system=java workload=%s clients=%d ops_per_s=%d acquire_p50_us=%d "
                    + "acquire_p99_us=%d%n", workload, clients, (long) (total / duration), p50, p99);
        }
    }
}
