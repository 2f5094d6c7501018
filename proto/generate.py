"""Regenerate grader_pb2.py and grader_pb2_grpc.py from grader.proto.

Run after editing the .proto: ``python proto/generate.py``. A test checks the committed
files match what this produces, so the contract and the code never drift apart.
"""
import re
import sys
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent


def generate(out_dir: Path) -> None:
    status = protoc.main(["protoc", f"-I{HERE}", f"--python_out={out_dir}",
                          f"--grpc_python_out={out_dir}", str(HERE / "grader.proto")])
    if status != 0:
        raise SystemExit(f"protoc failed with status {status}")
    grpc_file = out_dir / "grader_pb2_grpc.py"
    # protoc writes a top-level import; inside the package it must be relative.
    text = re.sub(r"^import grader_pb2 as", "from . import grader_pb2 as",
                  grpc_file.read_text(), flags=re.M)
    grpc_file.write_text(text)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    generate(target)
