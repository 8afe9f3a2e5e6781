package org.dlock.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;

/** The README's example (and the repository README's), compiled and run as printed. */
class ReadmeTest {
    static String example(Path readme, String after) throws Exception {
        String text = Files.readString(readme);
        int at = text.indexOf(after);
        int b = text.indexOf("```java\n", at) + 8;
        return text.substring(b, text.indexOf("```", b));
    }

    @SuppressWarnings("unchecked")
    static List<Long> run(String code, String addr) throws Exception {
        Path dir = Files.createTempDirectory("dlock-readme-");
        String src = "import org.dlock.client.*;\nimport java.time.Duration;\n"
                + "public class ReadmeExample {\n"
                + "    public static java.util.List<Long> sent = new java.util.ArrayList<>();\n"
                + "    static void sendGreetings(long token) { sent.add(token); }\n"
                + "    public static void run() throws Exception {\n"
                + code.replace("127.0.0.1:7411", addr) + "    }\n}\n";
        Files.writeString(dir.resolve("ReadmeExample.java"), src);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        String cp = Path.of(DlockClient.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                .toString();
        assertEquals(0, javac.run(null, null, null, "-cp", cp, "-d", dir.toString(),
                dir.resolve("ReadmeExample.java").toString()));
        try (URLClassLoader l = new URLClassLoader(new URL[] {dir.toUri().toURL()},
                ReadmeTest.class.getClassLoader())) {
            Class<?> c = l.loadClass("ReadmeExample");
            c.getMethod("run").invoke(null);
            return (List<Long>) c.getField("sent").get(null);
        }
    }

    @Test
    void theExamplesRunAsPrinted() throws Exception {
        try (Servers s = Servers.single()) {
            List<Long> sent = run(example(Path.of("../README.md"), "# dlock for Java"), s.addrs.get(0));
            assertTrue(sent.size() == 1 && sent.get(0) >= 1);
            sent = run(example(Path.of("../../../README.md"), "## A lock in Java"), s.addrs.get(0));
            assertTrue(sent.size() == 1 && sent.get(0) >= 1);
        }
    }
}
