"""Ending with the process that started this one: a worker with its daemon, a command's private daemon with
its command (``serve --parent``). Torch-free, for the front end and the workers alike."""
from __future__ import annotations

import os
import threading
import time

PARENT_POLL_S = 0.5


def on_parent_exit(parent: int, then) -> None:
    """Call ``then()`` (from a watcher thread) once process ``parent`` has ended, however it ended: SIGKILL
    included, this process is then re-parented, which the watcher sees within ``PARENT_POLL_S``."""
    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        then()

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def remove_socket(path: str) -> None:
    """Remove a unix socket file and its folder, once the folder holds nothing else (a pool's folder of
    worker sockets; the folder a command made for its private daemon)."""
    if os.path.exists(path):
        os.unlink(path)
    try:
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass
