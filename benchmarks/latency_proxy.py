"""A loopback TCP proxy that adds a fixed delay to every round trip, for benchmarks.

Bytes from the client are forwarded to the server after ``delay`` seconds
(the replies come back at once), so each request/reply exchange costs
``delay`` more, as a network hop would; bytes already in flight are not
delayed again, so pipelining still pays one delay per batch.

Run it in its own process, so it does not compete with the benchmark for the
GIL: ``python benchmarks/latency_proxy.py LISTEN_PORT TARGET_PORT [DELAY_S]``.
It prints ``ready`` once listening. :class:`LatencyProxy` starts one for you.
Failure behaviour: a connection whose server side fails is closed on both sides.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

LOOPBACK = "127.0.0.1"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    try:
        while data := await reader.read(65536):
            if delay:
                loop.call_later(delay, writer.write, data)
            else:
                writer.write(data)
    except (ConnectionError, OSError):
        pass
    finally:
        await asyncio.sleep(delay)
        writer.close()


async def _serve(listen: int, target: int, delay: float) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        sock = client_w.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            server_r, server_w = await asyncio.open_connection(LOOPBACK, target)
        except OSError:
            client_w.close()
            return
        server_w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(_pipe(client_r, server_w, delay), _pipe(server_r, client_w, 0))

    server = await asyncio.start_server(handle, LOOPBACK, listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


class LatencyProxy:
    """A proxy process in front of ``127.0.0.1:target``; use as a context manager."""

    def __init__(self, target: int, delay: float = 0.002) -> None:
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            self.port: int = probe.getsockname()[1]
        self._args = [sys.executable, __file__, str(self.port), str(target), str(delay)]
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> LatencyProxy:
        self._proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        if self._proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the latency proxy did not start")
        time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)


if __name__ == "__main__":
    port, target = int(sys.argv[1]), int(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.002
    asyncio.run(_serve(port, target, delay))
