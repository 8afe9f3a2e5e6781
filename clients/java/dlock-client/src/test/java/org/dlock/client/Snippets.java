package org.dlock.client;

import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/**
 * The Java examples of the READMEs, compiled and run as printed (the tests'
 * class path; a server address replaced by the test server's).
 */
public final class Snippets {
    private Snippets() {}

    /** The first ```java block after the text after in the file readme. */
    public static String example(Path readme, String after) throws Exception {
        String text = Files.readString(readme);
        int at = text.indexOf(after);
        if (at < 0) {
            throw new IllegalArgumentException(after + " not in " + readme);
        }
        int b = text.indexOf("```java\n", at) + 8;
        return text.substring(b, text.indexOf("```", b));
    }

    /**
     * Runs code as the body of a method that may throw, with imports, in a
     * class that offers sendGreetings(long token), whose calls it returns.
     */
    @SuppressWarnings("unchecked")
    public static List<Long> run(String code, String imports) throws Exception {
        Path dir = Files.createTempDirectory("dlock-readme-");
        String src = imports + "\nimport java.time.Duration;\n"
                + "public class ReadmeExample {\n"
                + "    public static java.util.List<Long> sent = new java.util.ArrayList<>();\n"
                + "    static void sendGreetings(long token) { sent.add(token); }\n"
                + "    public static void run() throws Exception {\n" + code + "    }\n}\n";
        Files.writeString(dir.resolve("ReadmeExample.java"), src);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        String cp = System.getProperty("java.class.path") + File.pathSeparator
                + Path.of(DlockClient.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (javac.run(null, null, null, "-cp", cp, "-d", dir.toString(),
                dir.resolve("ReadmeExample.java").toString()) != 0) {
            throw new AssertionError("the example does not compile:\n" + src);
        }
        try (URLClassLoader l = new URLClassLoader(new URL[] {dir.toUri().toURL()},
                Snippets.class.getClassLoader())) {
            Class<?> c = l.loadClass("ReadmeExample");
            c.getMethod("run").invoke(null);
            return (List<Long>) c.getField("sent").get(null);
        }
    }
}
