"""The gRPC servicer: thin. It translates messages to the plain values of ``server.clips`` and back,
calls ``ClipStore``/``FrameGrader``, and maps their exceptions to statuses."""
from __future__ import annotations

import functools
import itertools
import logging

import grpc

from colorgrade import __version__
from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto import grader_pb2_grpc as pb_grpc
from colorgrade.proto.codec import cdl_to_message, decode_frame, encode_frame, lut_to_message
from colorgrade.server import protocol as msg
from colorgrade.server.clips import (ClipNotFound, ClipSettings, ClipStore, Diagnosis, FrameGrader, FrameResult,
                                     InvalidInput, LimitExceeded, Mode, NotReady)
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
MODE_OF = {pb.MODE_PARAMETERS: Mode.PARAMETERS, pb.MODE_CDL_FRAMES: Mode.CDL_FRAMES,
           pb.MODE_GENERATOR_FRAMES: Mode.GENERATOR_FRAMES, pb.MODE_GENERATOR_LUT: Mode.GENERATOR_LUT}


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


# --- messages -> plain values -------------------------------------------------------------------
def settings_from_message(message: pb.ClipSettings) -> ClipSettings:
    mode = MODE_OF.get(message.mode)
    if mode is None:
        raise InvalidInput(f"clip mode {message.mode} is not a known mode (see colorgrade.v1.Mode)")
    return ClipSettings(mode=mode, window_radius=message.window_radius, oversample=message.oversample or 1,
                        blend_radius=message.blend_radius, corrections_only=message.corrections_only,
                        return_lut=message.return_lut)


# --- plain values -> messages -------------------------------------------------------------------
def correction_message(cdl, diagnosis: Diagnosis | None, lut=None) -> pb.Correction:
    correction = pb.Correction()
    if cdl is not None:
        correction.cdl.CopyFrom(cdl_to_message(cdl))
    if diagnosis is not None:
        correction.diagnosis.CopyFrom(pb.Diagnosis(label=diagnosis.label, scores=diagnosis.scores))
    if lut is not None:
        correction.lut.CopyFrom(lut_to_message(lut))
    return correction


def result_message(result: FrameResult) -> pb.FrameResult:
    message = pb.FrameResult(index=result.index,
                             correction=correction_message(result.cdl, result.diagnosis, result.lut))
    if result.frame is not None:
        message.frame.CopyFrom(encode_frame(result.frame, index=result.index))
    return message


class GraderService(pb_grpc.GraderServicer):
    def __init__(self, store: ClipStore, grader: FrameGrader, models: list[msg.ModelCard]):
        self.store, self.grader = store, grader
        self.models = [pb.ModelInfo(name=m.name, card=m.card, trained=m.trained) for m in models]

    def decode(self, message: pb.Frame):
        try:
            return decode_frame(message, self.store.limits.max_frame_pixels)
        except ValueError as error:
            raise InvalidInput(str(error)) from None

    @_unary
    def OpenClip(self, request, context):
        return pb.ClipHandle(clip_id=self.store.open(settings_from_message(request.settings), request.name).clip_id)

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

            def frames():
                for message in itertools.chain([first], request_iterator):
                    if message.HasField("frame"):
                        yield message.frame.index, self.decode(message.frame)
                    if message.end_of_clip:
                        return

            for result in self.grader.stream(clip, frames()):
                yield result_message(result)
        except tuple(STATUS_OF) as error:
            _abort_on_error(context, error)

    @_unary
    def GradeFrame(self, request, context):
        clip = self.store.get(request.clip_id)
        frames = {message.index: self.decode(message) for message in request.frames}
        result = self.grader.grade(clip, request.index, frames,
                                   first_index=request.first_index if request.HasField("first_index") else None,
                                   last_index=request.last_index if request.HasField("last_index") else None)
        return result_message(result)

    @_unary
    def AnalyzeStills(self, request, context):
        analyses = self.grader.analyze_stills([self.decode(message) for message in request.frames])
        return pb.AnalyzeReply(corrections=[correction_message(cdl, diagnosis) for cdl, diagnosis in analyses])

    def GetServerInfo(self, request, context):
        limits = self.store.limits
        return pb.ServerInfo(version=__version__, models=self.models, devices=self.grader.engines.devices,
                             max_frame_pixels=limits.max_frame_pixels, max_sessions=limits.max_sessions,
                             max_buffer_bytes=limits.max_buffer_bytes, max_window_radius=limits.max_window_radius)
