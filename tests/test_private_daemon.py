"""A command's private daemon lives and dies with the command: however the command ends (a signal it can
answer, SIGKILL, a signal sent to its whole process group as `timeout` sends it), nothing of it is left
running or on disk. Real commands, real daemons, real signals, real ffmpeg."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from daemon_fixtures import RunningDaemon
from test_daemon_lifecycle import alive, wait_for


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def descendants(pid: int) -> list[int]:
    found = children(pid)
    for child in list(found):
        found += descendants(child)
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory, ffmpeg):
    """A clip long enough (1500 frames) that grading it is still running when the test stops it."""
    path = tmp_path_factory.mktemp("media") / "long.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "60",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True, timeout=120)
    return path


@pytest.fixture
def temp_folder():
    """The commands' TMPDIR, short (ipc:// paths are limited to ~100 characters) and watched: empty at the end."""
    folder = tempfile.mkdtemp(prefix="cgt-")
    yield Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


def start_grade(clip: Path, output: Path, temp: Path, *extra, session: bool = False):
    """`colorgrade grade` with a private daemon, once it is writing its output: (process, [daemon, engine,
    matchers] pids)."""
    log = (output.parent / "stderr.txt").open("w")
    process = subprocess.Popen([sys.executable, "-m", "colorgrade", "grade", str(clip), "-o", str(output), *extra],
                               stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "TMPDIR": str(temp)},
                               start_new_session=session)
    wait_for(lambda: list(output.parent.glob(".*partial*")), 120)
    time.sleep(0.5)        # frames in flight, through the engine
    workers = descendants(process.pid)
    assert any(" serve " in cmdline(pid) for pid in workers)
    assert any("colorgrade.server.engine" in cmdline(pid) for pid in workers)
    assert any("colorgrade.server.matcher" in cmdline(pid) for pid in workers)
    return process, workers


def nothing_left(workers: list[int], output: Path, temp: Path, partial_removed: bool = True) -> None:
    wait_for(lambda: not any(alive(pid) for pid in workers), 10)
    wait_for(lambda: not list(temp.iterdir()), 5)      # the daemon's socket folder, the engines' folder
    assert not output.exists()
    if partial_removed:
        assert not list(output.parent.glob(".*partial*"))


@pytest.mark.parametrize("sig, code, said", [
    (signal.SIGTERM, 143, "colorgrade: stopped by SIGTERM"),
    (signal.SIGHUP, 129, "colorgrade: stopped by SIGHUP"),
    (signal.SIGINT, 130, "colorgrade: interrupted"),
])
def test_a_signalled_command_ends_cleanly_with_its_private_daemon(long_clip, tmp_path, temp_folder, sig, code, said):
    output = tmp_path / "out.mp4"
    process, workers = start_grade(long_clip, output, temp_folder)
    process.send_signal(sig)
    assert process.wait(timeout=30) == code
    nothing_left(workers, output, temp_folder)
    lines = (tmp_path / "stderr.txt").read_text().replace("\r", "\n").strip().splitlines()
    assert lines[-1] == said and "Traceback" not in "\n".join(lines)


def test_a_killed_command_takes_its_private_daemon_with_it(long_clip, tmp_path, temp_folder):
    output = tmp_path / "out.mp4"
    process, workers = start_grade(long_clip, output, temp_folder)
    process.kill()
    process.wait(timeout=10)
    # SIGKILL leaves the command no moment to remove its partial output; everything else goes.
    nothing_left(workers, output, temp_folder, partial_removed=False)


def test_a_signal_to_the_whole_group_stops_everything_without_a_restart(long_clip, tmp_path, temp_folder):
    """What `timeout` and a closed terminal do: the signal reaches the command and every process of its group."""
    output = tmp_path / "out.mp4"
    process, workers = start_grade(long_clip, output, temp_folder, session=True)
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 143
    nothing_left(workers, output, temp_folder)


def test_a_stopping_daemon_restarts_no_engine():
    """SIGTERM to a daemon and its engine at once, a stream in flight: the front end does not restart the
    engine it is losing (a restart in shutdown bound a socket in a removed folder: a ZMQError traceback)."""
    from colorgrade.clients import GradeClient

    daemon = RunningDaemon("--port", "0", "--untrained-models", "--grace", "3")
    engines = daemon.engine_pids() + daemon.matcher_pids()
    code = ("import numpy as np\n"
            "from colorgrade.clients import GradeClient\n"
            f"c = GradeClient('{daemon.address}')\n"
            "clip = c.open_clip(window_radius=3)\n"
            "for r in c.stream(clip, (np.zeros((540, 960, 3), np.uint8) for _ in range(100000))): pass\n")
    client = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    try:
        with GradeClient(daemon.address) as watcher:
            wait_for(lambda: watcher.info().open_clips == 1, 60)
        time.sleep(1)
        for pid in [daemon.process.pid] + engines:
            os.kill(pid, signal.SIGTERM)
        daemon.process.wait(timeout=15)
    finally:
        client.kill()
        client.wait()
    wait_for(lambda: not any(alive(pid) for pid in engines), 5)
    daemon.log.seek(0)
    log = daemon.log.read()
    assert "restarting" not in log and "Traceback" not in log, log



def test_an_error_is_never_printed_onto_a_progress_bar(long_clip, tmp_path, temp_folder):
    """A failure while the bar is drawn (here: the daemon killed mid-run) is said on a line of its own."""
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "colorgrade", "analyze", str(long_clip), "--shots"],
                                   stdout=subprocess.DEVNULL, stderr=stderr, env={**os.environ, "TMPDIR": str(temp_folder)})
    wait_for(lambda: "analyse long.mp4" in log.read_text(), 120)
    workers = descendants(process.pid)
    os.kill(next(pid for pid in workers if " serve " in cmdline(pid)), signal.SIGKILL)
    assert process.wait(timeout=60) == 1
    wait_for(lambda: not any(alive(pid) for pid in workers), 10)
    # tqdm redraws its line after a carriage return; an error written onto it would end that line.
    assert log.read_text().rstrip("\n").split("\n")[-1].startswith("colorgrade analyze: ")
