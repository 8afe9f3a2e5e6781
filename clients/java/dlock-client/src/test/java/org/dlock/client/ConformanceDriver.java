package org.dlock.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The Java client's driver of the client conformance suite
 * (tests/conformance/README.md): commands in on stdin, answers and events
 * out on stdout, each command on a thread of its own.
 */
public final class ConformanceDriver {
    private static DlockClient client;
    private static Session session;
    private static final Map<String, DlockLock> LOCKS = new ConcurrentHashMap<>();

    private ConformanceDriver() {}

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static String code(RuntimeException e) {
        if (e instanceof DlockException.LockHeldException) {
            return "HELD";
        }
        if (e instanceof DlockException.WaitTimeoutException) {
            return "TIMEOUT";
        }
        if (e instanceof DlockException.LockLostException) {
            return "LOST";
        }
        if (e instanceof DlockException.NoSessionException) {
            return "NOSESSION";
        }
        if (e instanceof DlockException.UnavailableException) {
            return "UNAVAILABLE";
        }
        if (e instanceof DlockException.ServerException) {
            return ((DlockException.ServerException) e).code();
        }
        return e.getClass().getSimpleName();
    }

    private static void run(String tag, String verb, String[] a) {
        try {
            switch (verb) {
                case "open":
                    client = DlockClient.builder().servers(a[0]).build();
                    session = client.openSession(Duration.ofMillis(Long.parseLong(a[1])));
                    say(tag + " ok " + session.id());
                    break;
                case "acquire": {
                    DlockLock l = session.lock(a[0]);
                    long wait = Long.parseLong(a[1]);
                    if (!l.tryLock(Duration.ofMillis(wait))) {
                        say(tag + " err " + (wait == 0 ? "HELD" : "TIMEOUT"));
                        return;
                    }
                    LOCKS.put(a[0], l);
                    l.onLost(x -> say("event lost " + a[0]));
                    say(tag + " ok " + l.token());
                    holderLoop(a[0], l); // its later commands run on this, its holder thread

                    break;
                }
                case "close":
                    session.close();
                    client.close();
                    say(tag + " ok");
                    break;
                default:
                    say(tag + " err UNKNOWN");
            }
        } catch (RuntimeException e) {
            say(tag + " err " + code(e));
        }
    }

    /** Commands for a lock held by this thread (release, safe, lost). */
    private static final Map<String, java.util.concurrent.BlockingQueue<String[]>> QUEUES =
            new ConcurrentHashMap<>();

    private static void holderLoop(String name, DlockLock l) {
        java.util.concurrent.BlockingQueue<String[]> q = QUEUES.computeIfAbsent(name,
                k -> new java.util.concurrent.LinkedBlockingQueue<>());
        while (true) {
            String[] cmd;
            try {
                cmd = q.take();
            } catch (InterruptedException e) {
                return;
            }
            String tag = cmd[0];
            try {
                switch (cmd[1]) {
                    case "release":
                        LOCKS.remove(name);
                        l.unlock();
                        say(tag + " ok");
                        return;
                    case "safe": {
                        long left = l.safeUntil() - Dlock.nowMs();
                        say(tag + " ok " + Math.max(0, l.safeUntil() == 0 ? 0 : left));
                        break;
                    }
                    case "lost":
                        say(tag + " ok " + (l.isLost() ? 1 : 0));
                        break;
                    default:
                        say(tag + " err UNKNOWN");
                }
            } catch (RuntimeException e) {
                say(tag + " err " + code(e));
                if (cmd[1].equals("release")) {
                    return;
                }
            }
        }
    }

    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] w = line.trim().split("\\s+");
            if (w.length < 2) {
                continue;
            }
            String[] rest = java.util.Arrays.copyOfRange(w, 2, w.length);
            if ((w[1].equals("release") || w[1].equals("safe") || w[1].equals("lost")) && rest.length > 0) {
                QUEUES.computeIfAbsent(rest[0], k -> new java.util.concurrent.LinkedBlockingQueue<>())
                        .add(new String[] {w[0], w[1]});
                continue;
            }
            Thread t = new Thread(() -> run(w[0], w[1], rest));
            t.setDaemon(true);
            t.start();
        }
    }
}
