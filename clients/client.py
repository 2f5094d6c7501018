"""``GradeClient``: the Python client of a colorgrade daemon (numpy and grpcio only; never torch).

    from colorgrade.clients import GradeClient
    with GradeClient("127.0.0.1:50051") as client:
        corrections = client.analyze([thumbnail])              # stills -> CDL + diagnosis
        clip = client.open_clip(mode="cdl_frames", window_radius=2)
        for result in client.stream(clip, frames):             # frames: (H, W, 3|4) arrays, in order
            graded = result.frame                              # same type and size as the input
        client.close_clip(clip)

Remote daemons: ``GradeClient("gpu-box:50051", tls="ca.pem", token="...")``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto import grader_pb2_grpc as pb_grpc
from colorgrade.color import CDL
from colorgrade.proto.codec import (MAX_MESSAGE_BYTES, MODES, cdl_from_message, decode_frame, encode_frame,
                                    lut_from_message)
from colorgrade.color import LUT3D


class GradeError(RuntimeError):
    """A call the daemon refused or could not complete; ``code`` is the gRPC status code."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code


@dataclass(frozen=True)
class Result:
    index: int
    cdl: CDL | None
    confidence: float | None     # analysis modes: probability that the correction helps (the CDL is shrunk by it)
    label: str | None
    scores: dict[str, float]
    lut: LUT3D | None
    frame: np.ndarray | None
    match_confidence: float | None = None   # with a reference: how sure the match is (None without one)
    reference_used: bool = False            # the match carried weight (same scene as the reference)


def _result(message: pb.FrameResult | pb.Correction, index: int = 0) -> Result:
    correction = message.correction if isinstance(message, pb.FrameResult) else message
    frame = decode_frame(message.frame) if isinstance(message, pb.FrameResult) and message.HasField("frame") else None
    return Result(index=getattr(message, "index", index),
                  cdl=cdl_from_message(correction.cdl) if correction.HasField("cdl") else None,
                  confidence=correction.confidence if correction.HasField("confidence") else None,
                  label=correction.diagnosis.label or None, scores=dict(correction.diagnosis.scores),
                  lut=lut_from_message(correction.lut) if correction.HasField("lut") else None, frame=frame,
                  match_confidence=correction.match_confidence if correction.HasField("match_confidence") else None,
                  reference_used=correction.reference_used)


def _calls(method):
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except grpc.RpcError as error:
            raise GradeError(error.code(), error.details()) from None
    wrapper.__doc__, wrapper.__name__ = method.__doc__, method.__name__
    return wrapper


class GradeClient:
    def __init__(self, target: str, tls: str | bool | None = None, token: str | None = None, timeout: float = 600.0):
        """``target``: "host:port" or "unix:/path"; ``tls``: True (system roots) or a CA file; ``token``: bearer token."""
        options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        if tls:
            roots = Path(tls).read_bytes() if isinstance(tls, (str, Path)) else None
            self.channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(roots), options=options)
        else:
            self.channel = grpc.insecure_channel(target, options=options)
        self.stub = pb_grpc.GraderStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout
        self.opened: set[str] = set()   # clips this client opened and has not closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Close the clips this client left open (their frames would wait on the daemon until its idle
        timeout), then the channel."""
        for clip_id in sorted(self.opened):
            try:
                self.stub.CloseClip(pb.ClipHandle(clip_id=clip_id), metadata=self.metadata, timeout=10)
            except grpc.RpcError:   # gone already: a broken-off stream closes its clip on the daemon
                pass
        self.opened.clear()
        self.channel.close()

    @_calls
    def info(self) -> pb.ServerInfo:
        return self.stub.GetServerInfo(pb.ServerInfoRequest(), metadata=self.metadata, timeout=self.timeout)

    @_calls
    def analyze(self, frames, reference: np.ndarray | None = None) -> list[Result]:
        """Stills or thumbnails ((H, W, 3|4) arrays) -> one Result (cdl, label, scores) each; with a
        ``reference`` (a graded hero frame), each CDL matches the still to it where they show one scene."""
        request = pb.AnalyzeRequest(frames=[encode_frame(f, i) for i, f in enumerate(frames)])
        if reference is not None:
            request.reference.CopyFrom(encode_frame(reference))
        reply = self.stub.AnalyzeStills(request, metadata=self.metadata, timeout=self.timeout)
        return [_result(c, i) for i, c in enumerate(reply.corrections)]

    @_calls
    def open_clip(self, mode: str = "cdl_frames", window_radius: int = 2, name: str = "", corrections_only: bool = False,
                  return_lut: bool = False, oversample: int = 1, blend_radius: int = 0,
                  reference: np.ndarray | None = None) -> str:
        """A clip on the daemon -> its id. ``reference``: a graded hero frame every frame is matched to
        (analysis modes); send it at the size of the frames or a little larger (a thumbnail will do)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        settings = pb.ClipSettings(mode=MODES[mode], window_radius=window_radius, corrections_only=corrections_only,
                                   return_lut=return_lut, oversample=oversample, blend_radius=blend_radius)
        request = pb.OpenClipRequest(settings=settings, name=name)
        if reference is not None:
            request.reference.CopyFrom(encode_frame(reference))
        reply = self.stub.OpenClip(request, metadata=self.metadata, timeout=self.timeout)
        self.opened.add(reply.clip_id)
        return reply.clip_id

    @_calls
    def close_clip(self, clip_id: str) -> int:
        self.opened.discard(clip_id)
        return self.stub.CloseClip(pb.ClipHandle(clip_id=clip_id), metadata=self.metadata,
                                   timeout=self.timeout).frames_processed

    def stream(self, clip_id: str, frames, first_index: int = 0):
        """Frames in order -> Results in order (a generator); the clip's window is flushed at the end.

        Read it to the end: a stream left unread is cancelled, and the daemon closes a clip whose stream
        was broken off (it frees the frames of clients that vanished). An error raised by ``frames`` itself
        (an unreadable file) is raised as it is, not as the UNKNOWN status gRPC would make of it."""
        raised = []

        def requests():
            try:
                for offset, frame in enumerate(frames):
                    yield pb.StreamRequest(clip_id=clip_id, frame=encode_frame(frame, first_index + offset))
            except Exception as error:
                raised.append(error)
                raise
            yield pb.StreamRequest(clip_id=clip_id, end_of_clip=True)

        try:
            for message in self.stub.StreamClip(requests(), metadata=self.metadata):
                yield _result(message)
        except grpc.RpcError as error:
            if raised:
                raise raised[0] from None
            raise GradeError(error.code(), error.details()) from None

    @_calls
    def grade_frame(self, clip_id: str, index: int, frames: dict[int, np.ndarray], first_index: int | None = None,
                    last_index: int | None = None) -> Result:
        """Grade frame ``index`` out of order; ``frames`` maps indices to the frames the server may lack."""
        request = pb.GradeFrameRequest(clip_id=clip_id, index=index,
                                       frames=[encode_frame(f, i) for i, f in sorted(frames.items())])
        if first_index is not None:
            request.first_index = first_index
        if last_index is not None:
            request.last_index = last_index
        return _result(self.stub.GradeFrame(request, metadata=self.metadata, timeout=self.timeout))
