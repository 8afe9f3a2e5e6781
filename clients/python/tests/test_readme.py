"""The examples of README.md, run as printed but for the server's port (a
real dlockd's) and the functions they call (stubs that record)."""

import os
import re

import dlock

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "README.md")


def blocks():
    text = open(README).read()
    first = text.split("\n\n    import dlock\n", 1)[1].split("\n\n", 1)[0]
    indented = "import dlock\n" + "\n".join(line[4:] for line in first.splitlines())
    return [indented] + re.findall(r"```python\n(.*?)```", text, re.S)


def block(word):
    """The README's python block that holds word."""
    found = [b for b in blocks()[1:] if word in b]
    assert len(found) == 1, word
    return found[0]


def run(code, server, env):
    port = server.addr.rsplit(":", 1)[1]
    exec(compile(code.replace("7411", port), "README.md", "exec"), env)


def test_the_first_example(server):
    sent = []
    env = {"send_greetings": lambda fence: sent.append(fence)}
    run(blocks()[0], server, env)
    env["client"].close()
    assert sent and sent[0] >= 1


def test_the_loss_example(server):
    steps = []
    env = {"work_left": lambda: len(steps) < 3,
           "do_a_step": lambda fence: steps.append(fence)}
    run(block("on_lost"), server, env)
    env["client"].close()
    assert len(steps) == 3 and steps[0] == steps[2]


def test_the_job_example(server):
    client = dlock.Client(server.addr)
    code = block("@client.job").replace("    ...", "    return 'ran'")
    env = {"client": client}
    run(code, server, env)
    assert env["nightly_report"]() == "ran"
    client.close()


def test_the_repository_readme(server):
    root = os.path.dirname(os.path.dirname(os.path.dirname(README)))
    text = open(os.path.join(root, "README.md")).read()
    block = text.split("## A lock in Python\n\n", 1)[1].split("\n\n`", 1)[0]
    code = "\n".join(line[4:] for line in block.splitlines())
    sent = []
    env = {"send_greetings": lambda fence: sent.append(fence)}
    run(code, server, env)
    env["client"].close()
    assert sent and sent[0] >= 1


def test_the_watch_example(server):
    import threading
    import time
    client = dlock.Client(server.addr)

    def later():
        time.sleep(0.3)
        with client.lock("birthday-mails"):
            pass

    threading.Thread(target=later).start()
    env = {"client": client}
    run(block("client.watch"), server, env)
    assert env["change"].event == "released"
    client.close()


def test_the_asyncio_example(server):
    sent = []

    async def send_greetings(fence):
        sent.append(fence)

    run(block("asyncio.run"), server, {"send_greetings": send_greetings})
    assert sent and sent[0] >= 1
