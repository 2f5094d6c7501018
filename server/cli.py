"""Run the colorgrade daemon (``colorgrade serve``): the gRPC front end and its engine workers.

examples:
  colorgrade serve                                  # 127.0.0.1:50051, CUDA when present, else CPU
  colorgrade serve --unix /tmp/colorgrade.sock      # a unix socket, for hosts on this machine
  colorgrade serve --host 0.0.0.0 --tls-cert server.crt --tls-key server.key --token-file token.txt
  colorgrade serve --device cuda:0 --device cuda:1  # one engine per GPU

Any address other than loopback or a unix socket needs TLS and a token: clients send the token as
``authorization: Bearer TOKEN`` metadata; a wrong or missing one gets UNAUTHENTICATED. Standard gRPC
health checking and server reflection are served (``grpcurl -plaintext 127.0.0.1:50051 list``).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from colorgrade.server.lifetime import on_parent_exit, remove_socket
from colorgrade.server.limits import Limits

def configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=50051, help="port (default 50051; 0 picks a free one)")
    parser.add_argument("--unix", metavar="PATH", help="listen on a unix socket instead of TCP")
    parser.add_argument("--device", action="append", dest="devices", metavar="DEVICE",
                        help="engine device: cpu, cuda, cuda:1; repeat for one engine per device "
                             "(default: CUDA when present, else CPU)")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="frames per analysis forward pass, gathered across clips (default: 8 on CUDA, 1 on CPU, "
                             "where batching is no faster); a frame's result does not depend on which frames share its batch")
    parser.add_argument("--matchers", type=int, metavar="N",
                        help="matcher processes for frames matched to a hero (--reference), each on a core of its "
                             "own beside the engines (default: half the CPU cores, at least 1)")
    parser.add_argument("--tls-cert", help="PEM certificate (required off loopback)")
    parser.add_argument("--tls-key", help="PEM private key (required off loopback)")
    parser.add_argument("--token-file", help="file holding the token clients must send (required off loopback)")
    parser.add_argument("--max-sessions", type=int, default=Limits.max_sessions, help="clips open at once")
    parser.add_argument("--max-streams", type=int, default=Limits.max_streams,
                        help="StreamClip calls open at once; unary calls and health checks keep threads of their own")
    parser.add_argument("--max-buffer-mb", type=int, default=Limits.max_buffer_bytes >> 20,
                        help="frame memory held across all clips")
    parser.add_argument("--max-frame-pixels", type=int, default=Limits.max_frame_pixels)
    parser.add_argument("--idle-ttl", type=float, default=Limits.idle_ttl_s, help="seconds before an idle clip is closed")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus-style metrics on http://HOST:PORT/metrics (0 picks a free port)")
    parser.add_argument("--untrained-models", action="store_true",
                        help="serve randomly initialised networks (development and plumbing tests only)")
    parser.add_argument("--private-network", action="store_true",
                        help="behind a proxy that ends TLS (deploy/envoy): plaintext on a private address "
                             "(10/8, 172.16/12, 192.168/16, fc00::/7), still with --token-file")
    parser.add_argument("--server-id", metavar="NAME",
                        help="how this daemon names itself in every reply (x-colorgrade-server header, GetServerInfo): "
                             "which box of a fleet answered (default: host name @ listening address)")
    parser.add_argument("--parent", type=int, metavar="PID",
                        help="end with process PID, however it ends (SIGKILL included), as on SIGTERM; with --unix "
                             "the socket's folder is removed too once empty (a command's private daemon)")
    parser.add_argument("--grace", type=float, default=2.0, metavar="SECONDS",
                        help="on SIGTERM/SIGINT, how long calls in flight may finish (the daemon is gone within "
                             "this and 5 seconds more, whatever its clients do)")


def run_serve(args) -> int:
    from colorgrade.server.daemon import ConfigurationError, Daemon, DaemonConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        token = Path(args.token_file).read_text().strip() if args.token_file else None
    except OSError as error:
        print(f"colorgrade serve: --token-file {args.token_file}: {error.strerror}", file=sys.stderr)
        return 2
    if args.token_file and not token:
        print(f"colorgrade serve: --token-file {args.token_file} is empty", file=sys.stderr)
        return 2
    limits = Limits(max_sessions=args.max_sessions, max_streams=args.max_streams,
                    max_buffer_bytes=args.max_buffer_mb << 20, max_frame_pixels=args.max_frame_pixels,
                    idle_ttl_s=args.idle_ttl)
    config = DaemonConfig(host=args.host, port=args.port, unix_socket=args.unix, devices=args.devices or [None],
                          tls_cert=args.tls_cert, tls_key=args.tls_key, token=token,
                          untrained_models=args.untrained_models, metrics_port=args.metrics_port,
                          batch_size=args.batch_size, matchers=args.matchers, server_id=args.server_id,
                          private_network=args.private_network, limits=limits)
    stopped = threading.Event()
    if args.parent:   # watched while the engines load: the command may end meanwhile
        on_parent_exit(args.parent, stopped.set)
    try:
        daemon = Daemon(config)
    except ConfigurationError as error:
        print(f"colorgrade serve: {error}", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    metrics = f"; metrics: {daemon.metrics_address}" if daemon.metrics_address else ""
    try:
        print(f"colorgrade daemon serving on {daemon.address} (engines: {', '.join(daemon.engines.devices)}; "
              f"matchers: {len(daemon.engines.matchers)}{metrics})",
              flush=True)
        stopped.wait()
    except BrokenPipeError:   # a private daemon whose command ended before it served: nobody reads the banner,
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # nor what is left of it at exit
    # The last resort behind Daemon.stop's own bounds: whatever hangs, the process ends in time (its
    # engines notice and end too).
    watchdog = threading.Timer(args.grace + 5, os._exit, args=(1,))
    watchdog.daemon = True
    watchdog.start()
    daemon.stop(args.grace)
    if args.parent and args.unix:
        remove_socket(args.unix)
    return 0
