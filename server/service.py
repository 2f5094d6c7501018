"""The gRPC servicer: thin. It maps calls to ``ClipStore``/``FrameGrader`` and exceptions to statuses."""
from __future__ import annotations

import functools
import logging

import grpc

from colorgrade import __version__
from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto import grader_pb2_grpc as pb_grpc
from colorgrade.server.clips import ClipNotFound, ClipStore, FrameGrader, InvalidInput, LimitExceeded, NotReady
from colorgrade.server.engine_pool import EngineFailed, EngineUnavailable

log = logging.getLogger("colorgrade.server")

STATUS_OF = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    ClipNotFound: grpc.StatusCode.NOT_FOUND,
    LimitExceeded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    NotReady: grpc.StatusCode.FAILED_PRECONDITION,
    EngineFailed: grpc.StatusCode.INVALID_ARGUMENT,
    EngineUnavailable: grpc.StatusCode.UNAVAILABLE,
}


def _abort_on_error(context, error):
    code = STATUS_OF.get(type(error))
    if code is None:
        log.exception("internal error")
        context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}: {error}")
    message = error.args[0] if error.args else str(error)
    context.abort(code, str(message))


def _unary(method):
    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except tuple(STATUS_OF) as error:
            _abort_on_error(context, error)
    return wrapper


class GraderService(pb_grpc.GraderServicer):
    def __init__(self, store: ClipStore, grader: FrameGrader, models: list[pb.ModelInfo]):
        self.store, self.grader, self.models = store, grader, models

    @_unary
    def OpenClip(self, request, context):
        return pb.ClipHandle(clip_id=self.store.open(request.settings, request.name).clip_id)

    @_unary
    def CloseClip(self, request, context):
        return pb.CloseClipReply(frames_processed=self.store.close(request.clip_id).frames_processed)

    def StreamClip(self, request_iterator, context):
        try:
            first = next(request_iterator, None)
            if first is None:
                return
            if not first.clip_id:
                raise InvalidInput("the first StreamRequest must carry clip_id")
            clip = self.store.get(first.clip_id)

            def requests():
                yield first
                yield from request_iterator

            yield from self.grader.stream(clip, requests())
        except tuple(STATUS_OF) as error:
            _abort_on_error(context, error)

    @_unary
    def GradeFrame(self, request, context):
        return self.grader.grade(self.store.get(request.clip_id), request)

    @_unary
    def AnalyzeStills(self, request, context):
        return self.grader.analyze_stills(request.frames)

    def GetServerInfo(self, request, context):
        limits = self.store.limits
        return pb.ServerInfo(version=__version__, models=self.models, devices=self.grader.engines.devices,
                             max_frame_pixels=limits.max_frame_pixels, max_sessions=limits.max_sessions,
                             max_buffer_bytes=limits.max_buffer_bytes, max_window_radius=limits.max_window_radius)
