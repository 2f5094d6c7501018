"""Start real daemons (subprocesses on loopback) for the tests and benchmarks, alone or behind Envoy."""
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from colorgrade.server.cluster import ClusterConfig, config_text, envoy_command

SERVING = re.compile(r"serving on (\S+)")


class RunningDaemon:
    def __init__(self, *args):
        # The log goes to a file: a pipe nobody reads would stall the daemon once full.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen([sys.executable, "-m", "colorgrade", "serve", *args],
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            match = SERVING.search(line)
            if match:
                self.address, self.banner = match.group(1), line
                return
        self.process.kill()
        self.log.seek(0)
        raise RuntimeError(f"daemon did not start: {line} {self.log.read()}")

    def engine_pids(self):
        return self.worker_pids("colorgrade.server.engine")

    def matcher_pids(self):
        return self.worker_pids("colorgrade.server.matcher")

    def worker_pids(self, module: str):
        out = subprocess.run(["pgrep", "-P", str(self.process.pid), "-f", module], capture_output=True,
                             text=True).stdout
        return [int(p) for p in out.split()]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """``count`` daemons (ids daemon-0, daemon-1 ...) and the real Envoy in front of them (configured by
    ``colorgrade.server.cluster``, written to ``config``), with Envoy's admin interface for host health."""

    def __init__(self, config: Path, count: int = 3):
        with ThreadPoolExecutor(count) as pool:
            self.daemons = list(pool.map(lambda n: RunningDaemon("--port", "0", "--server-id", f"daemon-{n}"),
                                         range(count)))
        for number, daemon in enumerate(self.daemons):
            daemon.server_id = f"daemon-{number}"
        self.address, self.admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        config.write_text(config_text(ClusterConfig([d.address for d in self.daemons], listen=self.address,
                                                    admin=self.admin, health_interval_s=0.5)))
        self.envoy = subprocess.Popen(envoy_command(config, concurrency=2), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while self.healthy() != count:
            if time.monotonic() > deadline or self.envoy.poll() is not None:
                self.stop()
                raise RuntimeError(f"Envoy did not see {count} healthy daemons: {self.host_flags()}")
            time.sleep(0.2)
        self.wait_until_routed(deadline)

    def wait_until_routed(self, deadline: float) -> None:
        """Envoy's workers learn of the health checks' verdicts a moment after its admin interface does: wait
        until calls keyed by random clip ids have reached every daemon."""
        import grpc

        from colorgrade.proto import grader_pb2 as pb
        from colorgrade.proto import grader_pb2_grpc as pb_grpc
        from colorgrade.proto.codec import CLIP_HEADER

        with grpc.insecure_channel(self.address) as channel:
            stub, seen, key = pb_grpc.GraderStub(channel), set(), 0
            while len(seen) < len(self.daemons):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"only {sorted(seen)} answered through Envoy")
                key += 1
                seen.add(stub.GetServerInfo(pb.ServerInfoRequest(), metadata=((CLIP_HEADER, f"probe-{key}"),),
                                            timeout=5).server_id)

    def host_flags(self) -> dict[str, str]:
        """Daemon address -> Envoy's health flags for it (from the admin interface's /clusters)."""
        try:
            text = urllib.request.urlopen(f"http://{self.admin}/clusters", timeout=2).read().decode()
        except OSError:
            return {}
        return dict(re.findall(r"^colorgrade::([\d.:]+)::health_flags::(\S+)$", text, re.M))

    def healthy(self) -> int:
        return sum(flags == "healthy" for flags in self.host_flags().values())

    def opened_on(self) -> dict[str, list[str]]:
        """Clip id -> the daemons whose logs say they opened it (one entry per opening)."""
        opened: dict[str, list[str]] = {}
        for daemon in self.daemons:
            daemon.log.seek(0)
            for clip_id in re.findall(r"opened clip (\S+)", daemon.log.read()):
                opened.setdefault(clip_id, []).append(daemon.address)
        return opened

    def stop(self):
        self.envoy.terminate()
        self.envoy.wait(timeout=15)
        for daemon in self.daemons:
            daemon.stop()
