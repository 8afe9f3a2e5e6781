package org.dlock.client;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** TLS with certificates made by openssl, and users: the client checks the server, presents its own, logs in. */
class SecurityTest {
    static void openssl(String... args) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of("openssl"));
        argv.addAll(List.of(args));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException("openssl " + String.join(" ", args) + ": " + out);
        }
    }

    static final String[] EC = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-noenc"};

    static void cert(Path d, String name, String usage, String san) throws Exception {
        List<String> a = new ArrayList<>(List.of("req", "-x509", "-new"));
        a.addAll(List.of(EC));
        a.addAll(List.of("-CA", d.resolve("ca.crt").toString(), "-CAkey", d.resolve("ca.key").toString(),
                "-days", "30", "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:FALSE",
                "-addext", "subjectAltName=" + san, "-addext", "extendedKeyUsage=" + usage,
                "-keyout", d.resolve(name + ".key").toString(), "-out", d.resolve(name + ".crt").toString()));
        openssl(a.toArray(new String[0]));
    }

    @Test
    void tlsAndLogin() throws Exception {
        Path d = Files.createTempDirectory("dlock-pki-");
        List<String> ca = new ArrayList<>(List.of("req", "-x509", "-new"));
        ca.addAll(List.of(EC));
        ca.addAll(List.of("-keyout", d.resolve("ca.key").toString(), "-out", d.resolve("ca.crt").toString(),
                "-days", "30", "-subj", "/CN=ca"));
        openssl(ca.toArray(new String[0]));
        cert(d, "server", "serverAuth,clientAuth", "DNS:localhost,IP:127.0.0.1");
        cert(d, "alice", "clientAuth", "DNS:alice");
        Path users = d.resolve("users");
        Files.writeString(users, "admin PASSWORD adminpw ALLOW all ADMIN *\n");
        try (Servers s = Servers.single("--tls-cert-file", d.resolve("server.crt").toString(),
                "--tls-key-file", d.resolve("server.key").toString(), "--tls-ca-cert-file",
                d.resolve("ca.crt").toString(), "--users-file", users.toString(),
                "--password-iterations", "1000")) {
            DlockClient.Builder b = DlockClient.builder().servers(s.addrs.get(0))
                    .timeout(Duration.ofSeconds(5)).tls(d.resolve("ca.crt").toString(),
                            d.resolve("alice.crt").toString(), d.resolve("alice.key").toString());
            try (DlockClient c = b.credentials("admin", "adminpw").build()) {
                // The users of --users-file are set once the server leads:
                // until then a login is refused.
                for (long end = Dlock.nowMs() + 10000; Dlock.nowMs() < end; Servers.sleep(50)) {
                    try {
                        c.lockStatus("secure");
                        break;
                    } catch (DlockException.AuthException e) {
                        // not yet
                    }
                }
                DlockLock l = c.lock("secure");
                assertTrue(l.tryLock());
                assertTrue(l.token() >= 1);
                l.unlock();
            }
            try (DlockClient bad = b.credentials("admin", "wrong").build()) {
                assertThrows(DlockException.AuthException.class, () -> bad.lockStatus("secure"));
            }
            try (DlockClient untrusted = DlockClient.builder().servers(s.addrs.get(0))
                    .timeout(Duration.ofSeconds(2)).tls(d.resolve("alice.crt").toString(), null, null)
                    .build()) {
                assertThrows(DlockException.class, () -> untrusted.lockStatus("secure"));
            }
        }
    }
}
