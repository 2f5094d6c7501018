"""Start real daemons (subprocesses on loopback) for the tests."""
import re
import subprocess
import sys
import tempfile
import time

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
        out = subprocess.run(["pgrep", "-P", str(self.process.pid), "-f", "colorgrade.server.engine"],
                             capture_output=True, text=True).stdout
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
