"""Regenerate grader_pb2.py and grader_pb2_grpc.py from grader.proto.

Run after editing the .proto: ``python proto/generate.py``. A test checks the committed
files match what this produces, so the contract and the code never drift apart.

The generated code is made to run on the widest range of runtimes, because the clients run in
host Pythons (Nuke 13/14, Resolve set-ups) that have only older grpcio and protobuf wheels, or ship
their own protobuf: the gencode's runtime-version gates are removed, and so are the
registered-method fast paths that grpcio 1.63 added (the generic handler serves the same calls on
every version). The contract uses nothing newer than protobuf 4.25 and grpcio 1.62; CI proves it
by running the client tests in a virtual environment with exactly those versions.
"""
import re
import sys
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent

# (pattern, replacement) applied to each generated file, in order.
WIDEN = {
    "grader_pb2.py": [
        (r"^from google\.protobuf import runtime_version as _runtime_version\n", ""),
        (r"^_runtime_version\.ValidateProtobufRuntimeVersion\(\n(?:    .*\n)*?\)\n", ""),
    ],
    "grader_pb2_grpc.py": [
        # protoc writes a top-level import; inside the package it must be relative.
        (r"^import grader_pb2 as", "from . import grader_pb2 as"),
        (r"^GRPC_GENERATED_VERSION = .*?\n\n\n", "\n"),
        (r",\n\s*_registered_method=True\)", ")"),
        (r"^    server\.add_registered_method_handlers\(.*\)\n", ""),
    ],
}


def generate(out_dir: Path) -> None:
    status = protoc.main(["protoc", f"-I{HERE}", f"--python_out={out_dir}",
                          f"--grpc_python_out={out_dir}", str(HERE / "grader.proto")])
    if status != 0:
        raise SystemExit(f"protoc failed with status {status}")
    for name, substitutions in WIDEN.items():
        path = out_dir / name
        text = path.read_text()
        for pattern, replacement in substitutions:
            text, count = re.subn(pattern, replacement, text, flags=re.M | re.S if "*?" in pattern else re.M)
            if count == 0:
                raise SystemExit(f"{name}: the generated code changed shape ({pattern!r} not found); "
                                 "update WIDEN in proto/generate.py")
        path.write_text(text)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    generate(target)
