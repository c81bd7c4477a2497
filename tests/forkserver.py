"""A fork server for ``dnaseq`` commands in tests: one process imports dnaseq, torch and Lightning
once (about 4 s on 2 cores), then runs each command in a process forked from it, with the caller's
arguments, working folder, environment and standard streams; the command's exit status is the
client's. Every command still runs in a process of its own, through :func:`dnaseq.cli.main`, as a
user's would; what is saved is only the import. Used by ``tests/conftest.py::run_cli`` and the
README test. Not for commands that start processes of their own from ``sys.argv`` (DDP) or that
tests signal (the signal would reach the client, not the command).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

PRELOAD = ("dnaseq.cli", "dnaseq.training.train", "dnaseq.apply.evaluate", "dnaseq.apply.compare", "dnaseq.apply.predict", "dnaseq.apply.variants",
           "dnaseq.apply.ism_run", "dnaseq.plots.figures", "dnaseq.plots.accuracy", "dnaseq.plots.positions", "dnaseq.interpret.motifs", "dnaseq.interpret.attribute_run",
           "dnaseq.design.run", "dnaseq.training.tune",
           "pytorch_lightning.cli")

CLIENT = r"""
import json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(SOCKET)
msg = json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
socket.send_fds(s, [struct.pack("!I", len(msg)) + msg], [0, 1, 2])
got = b""
while len(got) < 4:
    part = s.recv(4 - len(got))
    if not part:
        sys.exit("the dnaseq fork server died before the command finished")
    got += part
sys.exit(struct.unpack("!i", got)[0])
"""


def serve(path: str) -> None:
    """Import dnaseq once, then run each `dnaseq` command sent to the socket ``path`` in a forked
    child with the client's arguments, folder, environment and standard streams."""
    import importlib
    import json
    import signal
    import socket
    import struct
    import traceback
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a command whose import fails will fail in its child, with the error
            pass
    from dnaseq.cli.app import main
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
            data += conn.recv(1 << 20)
        req = json.loads(data[4:].decode())
        pid = os.fork()
        if pid:
            conn.close()
            for fd in fds:
                os.close(fd)
            continue
        srv.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
            os.close(fd)
        os.environ.clear()
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        sys.argv = ["dnaseq"] + req["argv"]
        try:
            code = main()
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = 1
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        try:
            import atexit
            atexit._run_exitfuncs()  # what a normal exit runs, before the client hears the status
        except BaseException:
            traceback.print_exc()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            conn.sendall(struct.pack("!i", code))
        finally:
            os._exit(code)


class ForkServer:
    """``serve`` in a subprocess (started at once, so its imports overlap other set-up); ``env``:
    extra environment for the server (read at import time, e.g. thread counts)."""

    def __init__(self, folder: Path, env: Optional[dict] = None):
        self.socket = str(folder / "dnaseq.sock")
        self.client = folder / "dnaseq-client.py"
        self.client.write_text(f"SOCKET = {self.socket!r}\n" + CLIENT)
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", self.socket], stdout=subprocess.PIPE,
                                     text=True, env={**os.environ, "MPLBACKEND": "Agg", **(env or {})},
                                     start_new_session=True)
        self._ready = False

    def wait_ready(self) -> None:
        if self._ready:
            return
        line = self.proc.stdout.readline()  # "ready" once every module is imported
        if line.strip() != "ready":
            raise RuntimeError(f"the dnaseq fork server did not start (exit {self.proc.poll()})")
        self._ready = True

    def run(self, args, cwd=None, env=None, timeout=600) -> subprocess.CompletedProcess:
        """``dnaseq ARGS`` in a process forked from the server, as ``subprocess.run`` with
        ``capture_output=True, text=True`` would give it (``env``: the whole environment)."""
        self.wait_ready()
        return subprocess.run([sys.executable, "-S", str(self.client), *map(str, args)], cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, env=env)

    def close(self) -> None:
        import signal
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the server and any child still running
        except ProcessLookupError:
            pass
        self.proc.wait()


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--serve":
    serve(sys.argv[2])
