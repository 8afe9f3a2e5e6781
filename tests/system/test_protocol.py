"""test_protocol.py - runs every example of docs/protocol.md exactly as
printed (`redis-cli -p 7411 ...`), each section in order on a fresh default
server in a private network namespace, and compares what each prints with
the doc (transcripts.py says how; the values the doc says vary: a
lease_left_ms is an integer in (0, printed value], the full TTL)."""

import os

import dlocktest
import transcripts
from dlocktest import check

DOC = os.path.join(dlocktest.ROOT, "docs", "protocol.md")


# One test per section with examples, named after its number and title.
globals().update(transcripts.section_tests(DOC, "test_doc_"))


def test_doc_has_examples(ctx):
    """The parser finds the examples (a doc reshaped beyond it would
    otherwise pass silently): sections 3 to 6, each example a redis-cli
    command at port 7411 with its output shown."""
    sections = transcripts.parse(DOC)
    titles = [t for t, _ in sections]
    check(len(sections) >= 4, "sections with examples: %r" % titles)
    n = sum(len(e) for _, e in sections)
    check(n >= 25, "only %d examples found" % n)
    for t, examples in sections:
        for ex in examples:
            check(ex.output, "docs/protocol.md:%d: an example without output" % ex.line)
            check(ex.text.startswith("redis-cli -p 7411 "),
                  "docs/protocol.md:%d: not `redis-cli -p 7411 ...`: %r" % (ex.line, ex.text))


def test_compare_catches_differences(ctx):
    """The comparison fails on a changed line, a missing line and a
    lease_left_ms out of its range, and accepts one within it."""
    compare = transcripts.compare
    exp = [' 7) "lease_left_ms"', " 8) (integer) 10000"]
    check(compare(exp, [' 7) "lease_left_ms"', " 8) (integer) 9990"]) is None)
    check(compare(exp, [' 7) "lease_left_ms"', " 8) (integer) 10001"]) is not None)
    check(compare(exp, [' 7) "lease_left_ms"', " 8) (integer) 0"]) is not None)
    check(compare(exp, [' 7) "lease_left_ms"']) is not None)
    check(compare(["(integer) 2"], ["(integer) 3"]) is not None)
