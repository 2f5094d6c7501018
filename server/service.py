"""The gRPC servicer: thin. It translates messages to the plain values of ``server.clips`` and back,
calls ``ClipStore``/``FrameGrader``, and maps their exceptions to statuses."""
from __future__ import annotations

import functools
import itertools
import logging
import threading
import time

import grpc
import numpy as np
from google.protobuf.message import DecodeError

from colorgrade import __version__
from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto import grader_pb2_grpc as pb_grpc
from colorgrade.proto.codec import (MODE_OF_WIRE, SERVER_HEADER, cdl_to_message, decode_frame,
                                    encode_frame, frame_header, lut_to_message)
from colorgrade.server import protocol as msg
from colorgrade.server.clips import (Clip, ClipExists, ClipNotFound, ClipSettings, ClipStore, FrameGrader, FrameResult,
                                     InvalidInput, LimitExceeded, NotReady)
from colorgrade.server.engine_pool import EngineFailed, EngineUnavailable

log = logging.getLogger("colorgrade.server")

STATUS_OF = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    ClipNotFound: grpc.StatusCode.NOT_FOUND,
    ClipExists: grpc.StatusCode.ALREADY_EXISTS,
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


# --- messages -> plain values -------------------------------------------------------------------
def settings_from_message(message: pb.ClipSettings) -> ClipSettings:
    mode = MODE_OF_WIRE.get(message.mode)
    if mode is None:
        raise InvalidInput(f"clip mode {message.mode} is not a known mode (see colorgrade.v1.Mode)")
    return ClipSettings(mode=mode, window_radius=message.window_radius, oversample=message.oversample or 1,
                        blend_radius=message.blend_radius, corrections_only=message.corrections_only,
                        return_lut=message.return_lut)


# --- plain values -> messages -------------------------------------------------------------------
def correction_message(result: FrameResult) -> pb.Correction:
    correction = pb.Correction()
    if result.cdl is not None:
        correction.cdl.CopyFrom(cdl_to_message(result.cdl))
    if result.confidence is not None:
        correction.confidence = result.confidence
    if result.diagnosis is not None:
        correction.diagnosis.CopyFrom(pb.Diagnosis(label=result.diagnosis.label, scores=result.diagnosis.scores))
    if result.lut is not None:
        correction.lut.CopyFrom(lut_to_message(result.lut))
    if result.match_confidence is not None:
        correction.match_confidence = result.match_confidence
        correction.reference_used = result.reference_used
    return correction


def result_message(result: FrameResult, output=None) -> pb.FrameResult:
    """``output``: (slot, its bytes) where the client asked for the graded samples in shared memory."""
    message = pb.FrameResult(index=result.index, correction=correction_message(result))
    if result.frame is not None and output is not None:
        slot, view = output(result.frame.nbytes)
        np.copyto(np.frombuffer(view, result.frame.dtype).reshape(result.frame.shape), result.frame)
        message.frame.CopyFrom(frame_header(result.frame, index=result.index))
        message.frame.shared.CopyFrom(slot)
    elif result.frame is not None:
        message.frame.CopyFrom(encode_frame(result.frame, index=result.index))
    return message


class RateLimitedLog:
    """At most one line per ``interval_s`` for one kind of event, saying how many were not logged."""

    def __init__(self, interval_s: float = 10.0):
        self.interval_s, self.last, self.skipped = interval_s, -interval_s, 0
        self.lock = threading.Lock()

    def warning(self, message: str) -> None:
        with self.lock:
            now = time.monotonic()
            if now - self.last < self.interval_s:
                self.skipped += 1
                return
            skipped, self.skipped, self.last = self.skipped, 0, now
        log.warning("%s%s", message, f" ({skipped} more since the last such line)" if skipped else "")


def add_to_server(service: "GraderService", server) -> None:
    """Serve ``colorgrade.v1.Grader`` with request bytes parsed here, not by grpcio: a request that does not
    parse gets INVALID_ARGUMENT naming its type, costs no memory (grpcio's own failure path keeps ~20 KB
    per bad request) and logs at most one line every few seconds. Every reply names this daemon in its
    ``x-colorgrade-server`` header (which box of a fleet answered)."""
    malformed = RateLimitedLog()
    named = ((SERVER_HEADER, service.server_id),)

    def parse(message_class, raw: bytes):
        try:
            return message_class.FromString(raw)
        except DecodeError:
            malformed.warning(f"malformed {message_class.DESCRIPTOR.full_name} refused")
            raise InvalidInput(f"the request is not a valid {message_class.DESCRIPTOR.full_name} message") from None

    def unary(behaviour, message_class):
        def handle(raw, context):
            context.send_initial_metadata(named)
            try:
                request = parse(message_class, raw)
            except InvalidInput as error:
                _abort_on_error(context, error)
            return behaviour(request, context)
        return handle

    def streaming(behaviour, message_class):
        def handle(raws, context):
            context.send_initial_metadata(named)
            return behaviour((parse(message_class, raw) for raw in raws), context)
        return handle

    handlers = {}
    for method in pb.DESCRIPTOR.services_by_name["Grader"].methods:
        request_class, reply_class = getattr(pb, method.input_type.name), getattr(pb, method.output_type.name)
        behaviour = getattr(service, method.name)
        if method.client_streaming and method.server_streaming:
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(
                streaming(behaviour, request_class), response_serializer=reply_class.SerializeToString)
        elif not method.client_streaming and not method.server_streaming:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                unary(behaviour, request_class), response_serializer=reply_class.SerializeToString)
        else:
            raise TypeError(f"{method.full_name}: no handler for this kind of streaming")
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("colorgrade.v1.Grader", handlers),))


class GraderService(pb_grpc.GraderServicer):
    def __init__(self, store: ClipStore, grader: FrameGrader, models: list[msg.ModelCard], server_id: str):
        self.store, self.grader, self.server_id = store, grader, server_id
        self.models = [pb.ModelInfo(name=m.name, card=m.card, trained=m.trained) for m in models]
        self.streams = threading.BoundedSemaphore(store.limits.max_streams)

    def decode(self, message: pb.Frame, clip: Clip | None = None):
        """A frame message -> its array; a frame in shared memory is read from ``clip``'s regions."""
        shared = None if clip is None else (
            lambda slot, count: self.store.shared_slot(clip, slot.region, slot.offset, count))
        try:
            return decode_frame(message, self.store.limits.max_frame_pixels, shared)
        except ValueError as error:
            raise InvalidInput(str(error)) from None

    def hero(self, request) -> msg.HeroFeatures | None:
        """The features of the request's reference frame, if it carries one."""
        return self.grader.engines.describe_hero(self.decode(request.reference)) if request.HasField("reference") \
            else None

    @_unary
    def OpenClip(self, request, context):
        settings = settings_from_message(request.settings)
        if request.HasField("reference"):
            settings.check_matchable()   # before the hero's features are computed for nothing
        clip = self.store.open(settings, request.name, self.hero(request), request.clip_id)
        return pb.ClipHandle(clip_id=clip.clip_id, reach=clip.reach)

    @_unary
    def CloseClip(self, request, context):
        return pb.CloseClipReply(frames_processed=self.store.close(request.clip_id).frames_processed)

    def StreamClip(self, request_iterator, context):
        """A stream the client breaks off (cancelled, killed, disconnected) closes its clip at once: its
        frames are freed and the clip stops counting against the caps. A stream refused with a status
        leaves the clip open for the client to retry or close."""
        if not self.streams.acquire(blocking=False):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"{self.store.limits.max_streams} streams are open, the server's cap; finish or cancel one")
        answered = threading.Event()   # set once the call ends on our side: completed or refused
        clip_id = None

        def on_done():
            self.streams.release()
            if clip_id is not None and not answered.is_set():
                self.store.discard(clip_id, "its stream was broken off")

        context.add_callback(on_done)
        try:
            first = next(request_iterator, None)
            if first is None:
                answered.set()
                return
            if not first.clip_id:
                raise InvalidInput("the first StreamRequest must carry clip_id")
            clip = self.store.get(first.clip_id)
            clip_id = clip.clip_id
            outputs = {}   # frame index -> the shared slot its graded samples go to

            def frames():
                for message in itertools.chain([first], request_iterator):
                    for region in message.regions:
                        self.store.map_region(clip, region.name, region.byte_size)
                    if message.HasField("frame"):
                        if message.HasField("output"):
                            outputs[message.frame.index] = message.output
                        yield message.frame.index, self.decode(message.frame, clip)
                    if message.end_of_clip:
                        return

            def output(index):
                slot = outputs.pop(index, None)
                return None if slot is None else (
                    lambda count: (slot, self.store.shared_slot(clip, slot.region, slot.offset, count)))

            for result in self.grader.stream(clip, frames()):
                yield result_message(result, output(result.index))
            answered.set()
        except tuple(STATUS_OF) as error:
            answered.set()
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
        frames = [self.decode(message) for message in request.frames]
        results = self.grader.analyze_stills(frames, self.hero(request) if frames else None)
        return pb.AnalyzeReply(corrections=[correction_message(result) for result in results])

    def GetServerInfo(self, request, context):
        limits = self.store.limits
        return pb.ServerInfo(version=__version__, models=self.models, devices=self.grader.engines.devices,
                             max_frame_pixels=limits.max_frame_pixels, max_sessions=limits.max_sessions,
                             max_buffer_bytes=limits.max_buffer_bytes, max_window_radius=limits.max_window_radius,
                             server_id=self.server_id, analysis_size=self.store.models.analysis_size,
                             **self.store.usage())
