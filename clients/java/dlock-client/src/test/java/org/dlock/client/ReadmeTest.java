package org.dlock.client;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The README's example (and the repository README's), compiled and run as printed. */
class ReadmeTest {
    @Test
    void theExamplesRunAsPrinted() throws Exception {
        try (Servers s = Servers.single()) {
            for (Path readme : List.of(Path.of("../README.md"), Path.of("../../../README.md"))) {
                String code = Snippets.example(readme, readme.getNameCount() == 2
                        ? "# dlock for Java" : "## A lock in Java");
                List<Long> sent = Snippets.run(code.replace("127.0.0.1:7411", s.addrs.get(0)),
                        "import org.dlock.client.*;");
                assertTrue(sent.size() == 1 && sent.get(0) >= 1, readme.toString());
            }
        }
    }
}
