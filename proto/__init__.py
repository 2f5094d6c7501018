"""The wire contract and the colour values that cross it (numpy, protobuf, grpcio; never torch).

- ``grader.proto`` / ``grader_pb2`` / ``grader_pb2_grpc``: the ``colorgrade.v1.Grader`` service.
- ``codec``: numpy frames and colour values ⇄ messages.
- ``cdl``: ``CDL`` (ASC CDL v1.2) and its files; ``lut``: ``LUT3D`` and .cube files.
"""
