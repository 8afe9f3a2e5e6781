"""The I/O-free form of the client's operations: an operation is a
generator that yields each request it needs, (args, keyword arguments of
Client.execute), and is sent the reply (or thrown the exception). drive()
runs one with a blocking execute, adrive() with a coroutine one (the
asyncio client), so both share every rule."""


def drive(gen, execute):
    try:
        step = next(gen)
        while True:
            args, kw = step
            try:
                reply = execute(*args, **kw)
            except Exception as e:  # noqa: BLE001 - handed to the operation
                step = gen.throw(e)
                continue
            step = gen.send(reply)
    except StopIteration as done:
        return done.value


async def adrive(gen, execute):
    try:
        step = next(gen)
        while True:
            args, kw = step
            try:
                reply = await execute(*args, **kw)
            except Exception as e:  # noqa: BLE001 - handed to the operation
                step = gen.throw(e)
                continue
            step = gen.send(reply)
    except StopIteration as done:
        return done.value
