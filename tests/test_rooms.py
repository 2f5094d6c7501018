"""The floors of the house (DESIGN.md, Layout; docs/notes.md, the house): every room imports only the rooms
its row of the table allows, the colour layer, the wire, the clients and the daemon's front end never load
torch, and only the workers load the models (the engine the networks, the matcher OpenCV's matching
without torch)."""
import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from colorgrade.clients import GradeClient
from conftest import REPO
from daemon_fixtures import RunningDaemon

WORKER_FILES = ("engine.py", "matcher.py", "worker.py")   # the processes the front end starts, not imports
# Room -> (its files, the colorgrade rooms it may import besides itself, third-party imports it may use).
# "colorgrade" alone is the package root (its version and the samples' folder): every room may read it.
ROOMS = {
    "color": (sorted((REPO / "colorgrade" / "color").glob("*.py")), set(), {"numpy"}),
    # grpc_tools: proto/generate.py, which writes the stubs (a development tool, never imported at run time).
    "proto": (sorted((REPO / "proto").glob("*.py")), {"color"}, {"numpy", "google", "grpc", "grpc_tools"}),
    "clients": ([p for p in sorted((REPO / "clients").rglob("*.py")) if p.parent.name not in ("resolve", "nuke")],
                {"color", "proto"}, {"numpy", "grpc", "av", "PIL", "tifffile", "tqdm", "opentimelineio"}),
    "models": (sorted((REPO / "models").glob("*.py")), {"color"},
               {"numpy", "torch", "PIL", "safetensors", "tqdm", "cv2"}),
    "server front end": ([p for p in sorted((REPO / "server").glob("*.py")) if p.name not in WORKER_FILES],
                         {"color", "proto"}, {"numpy", "google", "grpc", "grpc_health", "grpc_reflection", "zmq"}),
    "server workers": ([REPO / "server" / name for name in WORKER_FILES], {"color", "proto", "server", "models"},
                       {"numpy", "torch", "zmq", "cv2"}),
}
ROOM_OF_MODULE = {"colorgrade.color": "color", "colorgrade.proto": "proto", "colorgrade.clients": "clients",
                  "colorgrade.models": "models", "colorgrade.server": "server", "colorgrade.evaluation": "top floor",
                  "colorgrade.cli": "top floor", "colorgrade.table1": "top floor",
                  "colorgrade.cluster": "top floor"}
WORKER_MODULES = {f"colorgrade.server.{name[:-3]}" for name in WORKER_FILES}
TORCH_FREE = [path for room in ("color", "proto", "clients", "server front end") for path in ROOMS[room][0]]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def room_of(module: str) -> str | None:
    """The room a colorgrade module belongs to (None: the package root, or not colorgrade's)."""
    for prefix, room in ROOM_OF_MODULE.items():
        if module == prefix or module.startswith(prefix + "."):
            return room
    return None


def outside_the_table(room: str, path: Path) -> list[str]:
    _, rooms, third_party = ROOMS[room]
    own = {"server front end": "server", "server workers": "server"}.get(room, room)
    wrong = []
    for module in imported_modules(path):
        top = module.split(".")[0]
        if top == "colorgrade":
            target = room_of(module)
            if target is not None and target != own and target not in rooms:
                wrong.append(module)
            if room == "server front end" and module in WORKER_MODULES:
                wrong.append(module)
        elif top not in sys.stdlib_module_names | third_party | {"__future__"}:
            wrong.append(module)
    return sorted(wrong)


@pytest.mark.parametrize("room, path", [(room, path) for room, (paths, _, _) in ROOMS.items() for path in paths],
                         ids=lambda value: value if isinstance(value, str) else str(value.relative_to(REPO)))
def test_each_room_imports_only_what_its_row_allows(room, path):
    assert outside_the_table(room, path) == [], f"{path.relative_to(REPO)} ({room})"


def test_the_table_check_can_fail(tmp_path):
    """Positive control: a models file importing the clients, and a colour file importing torch, are caught."""
    models_file, colour_file = tmp_path / "models_file.py", tmp_path / "colour_file.py"
    models_file.write_text("from colorgrade.clients.cli import add_connection_arguments\nimport numpy\n")
    colour_file.write_text("import torch\nfrom colorgrade.color import CDL\n")
    assert outside_the_table("models", models_file) == ["colorgrade.clients.cli"]
    assert outside_the_table("color", colour_file) == ["torch"]


@pytest.mark.parametrize("path", TORCH_FREE, ids=lambda p: str(p.relative_to(REPO)))
def test_module_imports_neither_torch_nor_the_models(path):
    forbidden = {name for name in imported_modules(path)
                 if name.split(".")[0] == "torch" or name.startswith("colorgrade.models")}
    assert not forbidden, f"{path.relative_to(REPO)} imports {sorted(forbidden)}"


def test_front_end_and_clients_import_with_torch_unavailable():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import colorgrade.color, colorgrade.proto.codec, colorgrade.proto.grader_pb2_grpc\n"
            "import colorgrade.clients, colorgrade.clients.cli, colorgrade.clients.media\n"
            "import colorgrade.server.daemon, colorgrade.server.service, colorgrade.server.cli, colorgrade.cli\n"
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]")
    subprocess.run([sys.executable, "-c", code], check=True)


def loads_libtorch(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def test_running_front_end_and_matcher_never_load_torch_while_the_engine_does():
    daemon = RunningDaemon("--port", "0", "--untrained-models", "--matchers", "1")
    try:
        rng = np.random.default_rng(0)
        frames = [(rng.random((24, 32, 3)) * 255).astype(np.uint8) for _ in range(4)]
        with GradeClient(daemon.address) as client:
            client.analyze(frames[:1])
            client.analyze(frames[:1], reference=frames[1])
            for mode in ("parameters", "cdl_frames", "generator_frames", "generator_lut"):
                clip = client.open_clip(mode=mode, window_radius=1, return_lut=True)
                assert len(list(client.stream(clip, frames))) == len(frames)
                client.grade_frame(clip, 1, dict(enumerate(frames)), first_index=0, last_index=3)
                client.close_clip(clip)
        engines = daemon.engine_pids()
        assert engines and all(loads_libtorch(pid) for pid in engines)   # the check can see torch
        assert not loads_libtorch(daemon.process.pid)
        matchers = daemon.matcher_pids()
        assert len(matchers) == 1 and not loads_libtorch(matchers[0])
    finally:
        daemon.stop()
