"""The floors of the house (DESIGN.md, Layout): the colour layer, the wire, the clients and the daemon's
front end never load torch; only the engine workers do."""
import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from colorgrade.clients import GradeClient
from conftest import REPO
from daemon_fixtures import RunningDaemon

TORCH_FREE = [*sorted((REPO / "colorgrade" / "color").glob("*.py")), *sorted((REPO / "proto").glob("*.py")),
              *sorted((REPO / "clients").rglob("*.py")),
              *[p for p in sorted((REPO / "server").glob("*.py")) if p.name != "engine.py"]]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", TORCH_FREE, ids=lambda p: str(p.relative_to(REPO)))
def test_module_imports_neither_torch_nor_the_models(path):
    forbidden = {name for name in imported_modules(path)
                 if name.split(".")[0] == "torch" or name.startswith("colorgrade.models")}
    assert not forbidden, f"{path.relative_to(REPO)} imports {sorted(forbidden)}"


def test_colour_layer_imports_only_numpy_and_itself():
    for path in sorted((REPO / "colorgrade" / "color").glob("*.py")):
        outside = {name for name in imported_modules(path)
                   if name.split(".")[0] not in sys.stdlib_module_names | {"numpy", "__future__"}
                   and not name.startswith("colorgrade.color")}
        assert not outside, f"{path.relative_to(REPO)} imports {sorted(outside)}"


def test_front_end_and_clients_import_with_torch_unavailable():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import colorgrade.color, colorgrade.proto.codec, colorgrade.proto.grader_pb2_grpc\n"
            "import colorgrade.clients, colorgrade.clients.cli, colorgrade.clients.media\n"
            "import colorgrade.server.daemon, colorgrade.server.service, colorgrade.server.cli, colorgrade.cli\n"
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]")
    subprocess.run([sys.executable, "-c", code], check=True)


def loads_libtorch(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def test_running_front_end_never_loads_torch_while_its_engine_does():
    daemon = RunningDaemon("--port", "0", "--untrained-models")
    try:
        rng = np.random.default_rng(0)
        frames = [(rng.random((24, 32, 3)) * 255).astype(np.uint8) for _ in range(4)]
        with GradeClient(daemon.address) as client:
            client.analyze(frames[:1])
            for mode in ("parameters", "cdl_frames", "generator_frames", "generator_lut"):
                clip = client.open_clip(mode=mode, window_radius=1, return_lut=True)
                assert len(list(client.stream(clip, frames))) == len(frames)
                client.grade_frame(clip, 1, dict(enumerate(frames)), first_index=0, last_index=3)
                client.close_clip(clip)
        engines = daemon.engine_pids()
        assert engines and all(loads_libtorch(pid) for pid in engines)   # the check can see torch
        assert not loads_libtorch(daemon.process.pid)
    finally:
        daemon.stop()
