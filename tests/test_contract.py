"""The package's shape: generated code matches the .proto, the CLI answers --help and --version."""
import subprocess
import sys
from pathlib import Path

from conftest import REPO

import colorgrade


def test_generated_code_matches_proto(tmp_path):
    subprocess.run([sys.executable, str(REPO / "proto" / "generate.py"), str(tmp_path)], check=True)
    for name in ("grader_pb2.py", "grader_pb2_grpc.py"):
        assert (tmp_path / name).read_text() == (REPO / "proto" / name).read_text(), \
            f"{name} is stale: run python proto/generate.py"


def test_cli_version_and_help():
    run = lambda *a: subprocess.run([sys.executable, "-m", "colorgrade", *a],  # noqa: E731
                                    capture_output=True, text=True, check=True).stdout
    assert run("--version").strip() == f"colorgrade {colorgrade.__version__}"
    assert "usage: colorgrade" in run("--help")


def test_namespace_maps_the_top_level_folders():
    import colorgrade.clients
    import colorgrade.models
    import colorgrade.proto
    import colorgrade.server
    for package, folder in ((colorgrade.proto, "proto"), (colorgrade.clients, "clients"),
                            (colorgrade.models, "models"), (colorgrade.server, "server")):
        assert Path(package.__file__).resolve().parent == REPO / folder
