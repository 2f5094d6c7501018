"""The wire contract (numpy, protobuf, grpcio; never torch). Colour values live in ``colorgrade.color``.

- ``grader.proto`` / ``grader_pb2`` / ``grader_pb2_grpc``: the ``colorgrade.v1.Grader`` service.
- ``codec``: numpy frames and colour values <-> messages, every frame checked before allocation.
"""
