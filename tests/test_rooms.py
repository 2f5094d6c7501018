"""The floors of the house (docs/architecture.md): every module is in one room, every room imports only the
rooms its row of the table allows, the colour layer, the wire, matching, the clients, the host adapters and
the daemon's front end never load torch, and only the workers load the models (the engine the networks, the
matcher OpenCV's matching without torch)."""
import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from colorgrade.clients import GradeClient
from conftest import REPO
from daemon_fixtures import RunningDaemon

WORKER_FILES = ("engine.py", "matcher.py", "worker.py", "in_process.py")   # the workers, and them in process
HOST_FILES = sorted((REPO / "clients" / "resolve").glob("*.py")) + sorted((REPO / "clients" / "nuke").glob("*.py"))
PACKAGE_FOLDERS = ("colorgrade", "proto", "matching", "clients", "models", "server", "evaluation")
# Room -> (its files, the colorgrade rooms it may import besides itself, third-party imports it may use).
# "colorgrade" alone is the package root (its version and the samples' folder): every room may read it.
# docs/architecture.md shows this table; test_the_architecture_page_shows_this_table keeps the two together.
ROOMS = {
    "color": (sorted((REPO / "colorgrade" / "color").glob("*.py")), set(), {"numpy"}),
    # grpc_tools: proto/generate.py, which writes the stubs (a development tool, never imported at run time).
    "proto": (sorted((REPO / "proto").glob("*.py")), {"color"}, {"numpy", "google", "grpc", "grpc_tools"}),
    "matching": (sorted((REPO / "matching").glob("*.py")), {"color"}, {"numpy", "cv2"}),
    "clients": ([p for p in sorted((REPO / "clients").rglob("*.py")) if p not in HOST_FILES],
                {"color", "proto"}, {"numpy", "grpc", "av", "PIL", "tifffile", "tqdm", "opentimelineio",
                 "OpenImageIO", "PyOpenColorIO"}),
    # Host Pythons vary (Nuke 13: 3.7, Resolve: the user's): the standard library and the host's own modules.
    "host adapters": (HOST_FILES, set(), {"nuke", "colorgrade_nuke", "DaVinciResolveScript"}),
    "models": (sorted((REPO / "models").glob("*.py")), {"color"}, {"numpy", "torch", "PIL", "safetensors", "tqdm"}),
    "server front end": ([p for p in sorted((REPO / "server").glob("*.py")) if p.name not in WORKER_FILES],
                         {"color", "proto"},
                         {"numpy", "google", "grpc", "grpc_health", "grpc_reflection", "zmq", "yaml"}),
    "server workers": ([REPO / "server" / name for name in WORKER_FILES],
                       {"color", "proto", "server", "models", "matching"}, {"numpy", "torch", "zmq", "cv2"}),
    "evaluation": (sorted((REPO / "evaluation").glob("*.py")),
                   {"color", "proto", "matching", "clients", "models", "server"},
                   {"numpy", "torch", "tqdm", "PIL", "cv2", "color_matcher"}),
    # The entry point imports a command's module by name, once asked (importlib): nothing at import time.
    "entry point": ([REPO / "colorgrade" / name for name in ("__init__.py", "__main__.py", "cli.py")], set(), set()),
}
ROOM_OF_MODULE = {"colorgrade.color": "color", "colorgrade.proto": "proto", "colorgrade.matching": "matching",
                  "colorgrade.clients.resolve": "host adapters", "colorgrade.clients.nuke": "host adapters",
                  "colorgrade.clients": "clients", "colorgrade.models": "models", "colorgrade.server": "server",
                  "colorgrade.evaluation": "evaluation", "colorgrade.cli": "entry point"}
WORKER_MODULES = {f"colorgrade.server.{name[:-3]}" for name in WORKER_FILES}
TORCH_FREE = [path for room in ("color", "proto", "matching", "clients", "host adapters", "server front end")
              for path in ROOMS[room][0]]


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


def test_every_module_is_in_exactly_one_room():
    """Every Python file of the package's folders, ``__init__.py`` files included, has a row: a new module
    cannot escape the table by living where no row looks."""
    modules = sorted(path for folder in PACKAGE_FOLDERS for path in (REPO / folder).rglob("*.py"))
    rooms_of = {path: [room for room, (paths, _, _) in ROOMS.items() if path in paths] for path in modules}
    assert {str(path.relative_to(REPO)): rooms for path, rooms in rooms_of.items() if len(rooms) != 1} == {}


@pytest.mark.parametrize("path", HOST_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_host_adapters_parse_as_the_oldest_host_pythons_read_them(path):
    """Resolve runs the user's Python 3 (>= 3.6), Nuke 13 its 3.7: the grammar of 3.6, and no postponed
    annotations (3.7)."""
    tree = ast.parse(path.read_text(), feature_version=(3, 6))
    assert "__future__" not in {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_the_architecture_page_shows_this_table():
    """docs/architecture.md's room table lists these rooms, in this order, each with the folders its files
    lie in (or a folder above them): the page cannot drift from the rule the tests enforce."""
    page = (REPO / "docs" / "architecture.md").read_text()
    header = page.index("| room | folders | may import |")
    rows = [line for line in page[header:].splitlines()[2:] if line.startswith("|")]
    names = [row.split("|")[1].strip().strip("`") for row in rows]
    assert names == list(ROOMS)
    for row, (paths, _, _) in zip(rows, ROOMS.values()):
        folders = {path.parent.relative_to(REPO) for path in paths}
        cell = row.split("|")[2]
        assert all(any(f"{above}/" in cell for above in [folder, *folder.parents][:-1]) for folder in folders), row


def test_the_table_check_can_fail(tmp_path):
    """Positive control: a models file importing the clients, a colour file importing torch, a matching file
    importing the models and a host adapter importing numpy are caught."""
    cases = {"models": ("from colorgrade.clients.commands import connect\nimport numpy\n", ["colorgrade.clients.commands"]),
             "color": ("import torch\nfrom colorgrade.color import CDL\n", ["torch"]),
             "matching": ("from colorgrade.models import metrics\nimport cv2\n", ["colorgrade.models"]),
             "host adapters": ("import json\nimport numpy\n", ["numpy"])}
    for room, (code, wrong) in cases.items():
        path = tmp_path / f"{room.replace(' ', '_')}.py"
        path.write_text(code)
        assert outside_the_table(room, path) == wrong


@pytest.mark.parametrize("path", TORCH_FREE, ids=lambda p: str(p.relative_to(REPO)))
def test_module_imports_neither_torch_nor_the_models(path):
    forbidden = {name for name in imported_modules(path)
                 if name.split(".")[0] == "torch" or name.startswith("colorgrade.models")}
    assert not forbidden, f"{path.relative_to(REPO)} imports {sorted(forbidden)}"


def test_front_end_and_clients_import_with_torch_unavailable():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import colorgrade.color, colorgrade.proto.codec, colorgrade.proto.grader_pb2_grpc\n"
            "import colorgrade.clients, colorgrade.clients.cli, colorgrade.clients.media, colorgrade.matching\n"
            "import colorgrade.clients.workflow.report, colorgrade.server.cluster\n"
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
