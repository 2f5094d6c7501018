"""What every worker process shares: answering protocol requests on its socket, and ending with the front
end that started it. Torch-free, so a worker that needs no networks (the matcher) never loads them.

The engine (``server.engine``: the networks) and the matcher (``server.matcher``: OpenCV's matching to a
hero frame) are separate processes so that a frame's match runs beside its blind analysis instead of
waiting for it (docs/decisions.md, matching).
"""
from __future__ import annotations

import argparse
import os
import signal
import threading

import zmq

from colorgrade.server import protocol as msg
from colorgrade.server.lifetime import on_parent_exit, remove_socket


# Held while the worker binds its socket, and taken for good by a worker that leaves: a front end that dies
# while its worker is still starting must not see the socket file made after the worker removed it.
BINDING = threading.RLock()


def die_with(parent: int, socket_path: str) -> None:
    """End this worker, removing its socket file (and the pool's folder, once its last worker is gone), when
    the front end that started it ends, however it ends, or when it is sent SIGTERM."""
    def leave(*_):
        BINDING.acquire()   # never released: no bind after this, and a bind under way has finished
        remove_socket(socket_path)
        os._exit(0)

    signal.signal(signal.SIGTERM, leave)
    on_parent_exit(parent, leave)


def serve_forever(endpoint: str, handle) -> None:
    """Answer each request on ``endpoint`` with ``handle(request)`` (a ``Failure`` for what it cannot do)."""
    socket = zmq.Context.instance().socket(zmq.REP)
    with BINDING:
        socket.bind(endpoint)
    while True:
        parts = socket.recv_multipart(copy=False)
        try:
            request = msg.decode(parts)
        except (ValueError, KeyError, TypeError) as error:
            reply = msg.Failure(f"malformed worker request: {error}")
        else:
            reply = handle(request)
        try:
            parts = msg.encode(reply)
        except (ValueError, TypeError) as error:   # a reply the wire cannot carry fails this request, not the worker
            parts = msg.encode(msg.Failure(f"unsendable {type(reply).__name__}: {error}"))
        socket.send_multipart(parts, copy=False)


def handled(handlers: dict, request):
    """``request`` answered by the handler of its type; a failure at the process boundary becomes a
    ``Failure`` the front end reports as a gRPC status."""
    handler = handlers.get(type(request))
    if handler is None:
        return msg.Failure(f"this worker does not handle {type(request).__name__}")
    try:
        return handler(request)
    except Exception as error:  # at the process boundary: reported to the front end as a gRPC status
        return msg.Failure(f"{type(error).__name__}: {error}")


def argument_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("endpoint")
    parser.add_argument("--parent", type=int, help="pid of the front end: the worker ends when it does")
    return parser


def start(args, make_handle) -> None:
    """Serve ``make_handle()`` on the parsed ``args``' endpoint, ending with the parent when one is named
    (watched from before ``make_handle`` runs: loading networks takes seconds the parent may not live)."""
    if args.parent:
        die_with(args.parent, args.endpoint.removeprefix("ipc://"))
    serve_forever(args.endpoint, make_handle())
