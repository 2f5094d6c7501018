"""The colorgrade daemon: the gRPC front end, its engine workers, and its security rules."""
from __future__ import annotations

import ctypes
import hmac
import ipaddress
import os
import socket
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto.codec import MAX_MESSAGE_BYTES
from colorgrade.server.clips import ClipStore, FrameGrader
from colorgrade.server.limits import Limits
from colorgrade.server.metrics import Metrics, serve_metrics
from colorgrade.server.engine_pool import EnginePool
from colorgrade.server.service import GraderService, add_to_server

UNARY_THREADS = 32
HEALTH_METHOD_PREFIX = "/grpc.health.v1.Health/"


class ConfigurationError(ValueError):
    """The daemon refuses to start with these settings (the message says why and what to do)."""


@dataclass
class DaemonConfig:
    host: str = "127.0.0.1"
    port: int = 50051
    unix_socket: str | None = None
    devices: list[str | None] = field(default_factory=lambda: [None])
    tls_cert: str | None = None
    tls_key: str | None = None
    token: str | None = None
    untrained_models: bool = False
    metrics_port: int | None = None
    batch_size: int | None = None      # frames per analysis forward pass (None: 8 on CUDA, 1 on CPU)
    matchers: int | None = None        # matcher processes (None: half the CPU cores, at least 1)
    server_id: str | None = None       # names this daemon in replies (None: host name @ listening address)
    private_network: bool = False      # plaintext allowed on a private address (TLS ends at a proxy before it)
    limits: Limits = field(default_factory=Limits)

    @property
    def matcher_count(self) -> int:
        """Matchers to start: as configured, else one per two cores (the engines' torch threads take half)."""
        return self.matchers if self.matchers is not None else max(1, (os.cpu_count() or 2) // 2)

    @property
    def threads(self) -> int:
        """Server threads: one per stream that may be open, and room beyond them that streams can never
        take, so unary calls and health checks always find a thread (StreamClip refuses streams past
        ``limits.max_streams`` at once)."""
        return self.limits.max_streams + UNARY_THREADS


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_private(host: str) -> bool:
    """A private (RFC 1918 / unique local) unicast address: not loopback, not 'every interface'."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private and not (address.is_loopback or address.is_unspecified or address.is_link_local)


def check_private_address(host: str) -> None:
    """``--private-network`` (of ``serve`` and ``cluster``) allows plaintext only on a private address."""
    if not is_private(host):
        raise ConfigurationError(
            f"--private-network: {host} is not a private address (10/8, 172.16/12, 192.168/16, fc00::/7); "
            "plaintext is allowed only on an interface of a private network, never on all of them")


def check_security(config: DaemonConfig) -> None:
    for option, path in (("--tls-cert", config.tls_cert), ("--tls-key", config.tls_key)):
        if path and not Path(path).is_file():
            raise ConfigurationError(f"{option} {path}: no such file")
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigurationError("TLS needs both --tls-cert and --tls-key")
    if config.unix_socket or is_loopback(config.host):
        return
    if config.private_network and not config.tls_cert:
        check_private_address(config.host)
        if not config.token:
            raise ConfigurationError("--private-network still needs --token-file: the proxy passes clients' tokens on")
        return
    if not (config.tls_cert and config.tls_key and config.token):
        raise ConfigurationError(
            f"refusing to listen on {config.host}: any address other than loopback or a unix socket needs "
            "--tls-cert, --tls-key and --token-file, so frames and grades cannot be read or sent by others "
            "(behind a proxy that ends TLS, on a private network: --private-network and --token-file)")


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on, in one line (grpc's own refusal comes with a C-core log line)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror.lower()} "
                                     "(another colorgrade daemon?)") from None


def cuda_devices() -> int:
    """The CUDA devices this process may use (CUDA_VISIBLE_DEVICES applies), asked of the driver itself: the
    front end never loads torch. 0 without a driver."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def check_devices(devices: list[str | None]) -> None:
    """A CUDA device asked for exists, said in one line before any engine tries to load onto it."""
    for device in devices:
        kind, _, index = (device or "").partition(":")
        if kind != "cuda":
            continue
        if index and not index.isdigit():
            raise ConfigurationError(f"--device {device}: give cuda or cuda:N")
        count = cuda_devices()
        if int(index or 0) >= count:
            raise ConfigurationError(f"--device {device}: this machine has {count or 'no'} CUDA device"
                                     + ("s" if count > 1 else "") + (f" (cuda:0..{count - 1})" if count else ""))


class TokenInterceptor(grpc.ServerInterceptor):
    """Every call but health checks must carry ``authorization: Bearer TOKEN``."""

    def __init__(self, token: str):
        self.expected = f"Bearer {token}".encode()

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token (send 'authorization: Bearer TOKEN')")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.stream_stream_rpc_method_handler(deny)

    def intercept_service(self, continuation, details):
        if details.method.startswith(HEALTH_METHOD_PREFIX):
            return continuation(details)
        sent = dict(details.invocation_metadata).get("authorization", "")
        if hmac.compare_digest(sent.encode(), self.expected):
            return continuation(details)
        return self._deny_stream if details.method.endswith("/StreamClip") else self._deny


class Daemon:
    """A started daemon: gRPC server, engines, and the address clients use."""

    def __init__(self, config: DaemonConfig):
        """Checks the configuration, claims the address, then starts the engines: a daemon that cannot
        serve fails before any engine process exists, and one that fails later leaves none behind."""
        check_security(config)
        check_devices(config.devices)
        if config.matcher_count < 1:
            raise ConfigurationError(f"--matchers {config.matcher_count}: at least one matcher is needed")
        self.config = config
        options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.so_reuseport", 0)]   # a second daemon on a port in use must fail, not share it
        interceptors = [TokenInterceptor(config.token)] if config.token else []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=config.threads),
                                  interceptors=interceptors, options=options)
        self.address = self._bind()
        self.metrics = Metrics()
        self.engines = EnginePool(config.devices, config.untrained_models, config.batch_size,
                                  on_batch=self.metrics.batch, matchers=config.matcher_count)
        try:
            self.store = ClipStore(config.limits, self.engines.description)
            self.grader = FrameGrader(self.engines, self.store, self.metrics)
            self.metrics.gauges = self.store.usage
            self.server_id = config.server_id or f"{socket.gethostname()}@{self.address}"
            service = GraderService(self.store, self.grader, self.engines.description.models, self.server_id)
            # Metrics reveal no frames, but stay on loopback unless the daemon itself listens wider.
            metrics_host = "127.0.0.1" if config.unix_socket or is_loopback(config.host) else config.host
            self.metrics_server = (serve_metrics(self.metrics, metrics_host, config.metrics_port)
                                   if config.metrics_port is not None else None)
            add_to_server(service, self.server)
            self.health = health.HealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
            names = (pb.DESCRIPTOR.services_by_name["Grader"].full_name,
                     health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME)
            reflection.enable_server_reflection(names, self.server)
            self.server.start()
            for name in ("", names[0]):
                self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        except BaseException:
            self.engines.close()
            raise

    def _bind(self) -> str:
        config = self.config
        if config.unix_socket:
            address = f"unix:{config.unix_socket}"
            self.server.add_insecure_port(address)
            return address
        host = f"[{config.host}]" if ":" in config.host else config.host
        check_port_free(config.host, config.port)
        try:
            if config.tls_cert:
                credentials = grpc.ssl_server_credentials([(Path(config.tls_key).read_bytes(),
                                                            Path(config.tls_cert).read_bytes())])
                port = self.server.add_secure_port(f"{host}:{config.port}", credentials)
            else:
                port = self.server.add_insecure_port(f"{host}:{config.port}")
        except RuntimeError:   # grpcio raises where older versions returned 0
            port = 0
        if port == 0:
            raise ConfigurationError(f"cannot listen on {config.host}:{config.port}: the port is in use "
                                     "(another colorgrade daemon?) or not allowed")
        return f"{host}:{port}"

    @property
    def metrics_address(self) -> str | None:
        if self.metrics_server is None:
            return None
        host, port = self.metrics_server.server_address[:2]
        return f"http://{host}:{port}/metrics"

    def stop(self, grace: float = 2.0) -> None:
        """Stop serving: calls in flight get ``grace`` seconds, then are cancelled; the engines end with it
        (none is restarted meanwhile)."""
        self.engines.stop_restarts()
        self.health.enter_graceful_shutdown()
        # grpcio's stop() event can wait forever on a handler thread that never returns (a stream
        # blocked on its client); past the grace period and a margin, the daemon goes on closing.
        self.server.stop(grace).wait(grace + 2)
        self.grader.close(wait=False)
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        self.engines.close()
