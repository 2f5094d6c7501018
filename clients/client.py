"""``GradeClient``: the Python client of a colorgrade daemon (numpy and grpcio only; never torch).

    from colorgrade.clients import GradeClient
    with GradeClient("127.0.0.1:50051") as client:
        corrections = client.analyze([thumbnail])              # stills -> CDL + diagnosis
        clip = client.open_clip(mode="cdl_frames", window_radius=2)
        for result in client.stream(clip, frames):             # frames: (H, W, 3|4) arrays, in order
            graded = result.frame                              # same type and size as the input
        client.close_clip(clip)

Remote daemons: ``GradeClient("gpu-box:50051", tls="ca.pem", token="...")``. A fleet behind a proxy
(deploy/envoy): the same, at the proxy's address. Every call about a clip carries the clip's id in the
``x-colorgrade-clip`` header (the proxy routes a clip's calls to one daemon by it), and a clip whose daemon
died is re-opened elsewhere with the same id, settings and reference, its window's frames replayed
(``stream``) or the call retried (``grade_frame``): a dead box costs a retry, not a failed render. Where the
proxy's hash keeps sending that id to the dead daemon, the clip is re-opened under a new id, which hashes
elsewhere; the caller's id goes on naming it.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from colorgrade.color import CDL, LUT3D
from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto import grader_pb2_grpc as pb_grpc
from colorgrade.clients.shared_frames import SharedFrames
from colorgrade.proto.codec import (CLIP_HEADER, DEFAULT_WINDOW_RADIUS, MAX_CLIP_ID_CHARS, MAX_MESSAGE_BYTES, MODES,
                                    SERVER_HEADER, FrameError, cdl_from_message, decode_frame, encode_frame,
                                    lut_from_message)
from colorgrade.proto.shared_memory import RegionError


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
    server: str | None = None               # the daemon that answered (its x-colorgrade-server header)


# A clip call failing with these moves the clip: NOT_FOUND where a proxy sent it to a daemon that does not hold
# it (its own died), UNAVAILABLE where its daemon could not be reached.
FAILOVER_CODES = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE)
# A daemon that dies mid-stream, after its reply headers went out, leaves the proxy nothing to send but a reset
# stream, which gRPC reports as INTERNAL with this in its details (a daemon's own INTERNAL never says it).
STREAM_RESET = "RST_STREAM"
FAILOVER_DELAYS_S = (0.1, 0.3, 0.6, 1.2, 2.4)   # before each re-open: time for a proxy's health checks to act
# Re-opens under the clip's own id that may meet its dead daemon before the clip moves to a new id: a proxy whose
# health checks have not run yet (or one without them) hashes the id to that daemon every time.
REOPENS_UNDER_OWN_ID = 2


@dataclass
class _OpenedClip:
    """What re-opens a clip on another daemon: the same request (settings, reference, and the id the clip goes by
    on its daemon: the caller's, or a new one failover chose), and its reach."""
    request: pb.OpenClipRequest
    reach: int


def _server_of(call) -> str | None:
    return dict(call.initial_metadata() or ()).get(SERVER_HEADER)


class _Feed:
    """The frames of one clip's stream across the calls failover may take: each call sends the frames it must
    replay, then fresh ones from the caller's iterator. Sent frames are kept until no result still to come
    needs them (frame t's result needs t-reach .. t+reach). A superseded call's request thread stops taking
    frames (under the lock), so none is taken from the iterator and lost."""

    def __init__(self, frames, first_index: int, reach: int, shared_memory: bool = False):
        self.source = enumerate(frames, first_index)
        self.first_index, self.reach = first_index, reach
        self.kept: deque[tuple[int, np.ndarray]] = deque()
        self.lock = threading.Lock()
        self.raised: list[Exception] = []   # what the caller's iterator itself raised
        self.call = 0                       # the call allowed to take fresh frames
        self.shared_memory = shared_memory  # frames may go through shared memory (a daemon on this machine)
        self.shared: SharedFrames | None = None

    def requests(self, clip_id: str, replay: list[tuple[int, np.ndarray]]):
        call = self.call
        for index, frame in replay:
            yield pb.StreamRequest(clip_id=clip_id, frame=encode_frame(frame, index))
        while True:
            with self.lock:
                if call != self.call:
                    return
                try:
                    index, frame = next(self.source)
                except StopIteration:
                    break
                except Exception as error:
                    self.raised.append(error)
                    raise
                self.kept.append((index, frame))
            request = self.request(clip_id, index, frame, lambda: call == self.call)
            if request is None:
                return
            yield request
        yield pb.StreamRequest(clip_id=clip_id, end_of_clip=True)

    def request(self, clip_id: str, index: int, frame: np.ndarray, still_wanted) -> pb.StreamRequest | None:
        """Frame ``index``'s request: its samples in shared memory where the stream has it and the frame fits,
        else in the message."""
        frame = np.asarray(frame)
        request = pb.StreamRequest(clip_id=clip_id)
        if self.shared_memory and self.shared is None and index == self.first_index:
            try:
                self.shared = SharedFrames(frame, self.reach, index)
                request.regions.extend(self.shared.regions())
            except (RegionError, FrameError):   # no shared memory here, or a frame the wire refuses: bytes
                self.shared_memory = False
        if self.shared is not None and self.shared.fits(frame):
            placed = self.shared.put(index, frame, still_wanted)
            if placed is None:
                return None
            request.frame.CopyFrom(placed[0])
            request.output.CopyFrom(placed[1])
        else:
            request.frame.CopyFrom(encode_frame(frame, index))
        return request

    def answered(self, index: int) -> None:
        """Frame ``index``'s result was read: frames before index + 1 - reach are needed no more."""
        with self.lock:
            while self.kept and self.kept[0][0] < index + 1 - self.reach:
                self.kept.popleft()
        if self.shared is not None:
            self.shared.read(index)

    def replay(self) -> list[tuple[int, np.ndarray]]:
        """Stop the current call's request thread; -> the frames a new call must send first. The new call sends
        bytes: the clip may now be on another machine."""
        with self.lock:
            self.call += 1
            self.shared_memory = False
            kept = list(self.kept)
        self.close()
        self.shared = None
        return kept

    def close(self) -> None:
        if self.shared is not None:
            self.shared.close()


def _result(message: pb.FrameResult | pb.Correction, index: int = 0, server: str | None = None,
            shared: SharedFrames | None = None) -> Result:
    correction = message.correction if isinstance(message, pb.FrameResult) else message
    frame = None
    if isinstance(message, pb.FrameResult) and message.HasField("frame"):
        frame = decode_frame(message.frame, shared=shared.result if shared is not None else None)
    return Result(index=getattr(message, "index", index),
                  cdl=cdl_from_message(correction.cdl) if correction.HasField("cdl") else None,
                  confidence=correction.confidence if correction.HasField("confidence") else None,
                  label=correction.diagnosis.label or None, scores=dict(correction.diagnosis.scores),
                  lut=lut_from_message(correction.lut) if correction.HasField("lut") else None, frame=frame,
                  match_confidence=correction.match_confidence if correction.HasField("match_confidence") else None,
                  reference_used=correction.reference_used, server=server)


def _calls(method):
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except grpc.RpcError as error:
            raise GradeError(error.code(), error.details()) from None
    wrapper.__doc__, wrapper.__name__ = method.__doc__, method.__name__
    return wrapper


def on_this_machine(target: str) -> bool:
    """A unix socket or a loopback address: a daemon that can map this client's shared memory."""
    if target.startswith("unix:"):
        return True
    host = target.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


class GradeClient:
    def __init__(self, target: str, tls: str | bool | None = None, token: str | None = None, timeout: float = 600.0,
                 shared_memory: bool | None = None):
        """``target``: "host:port" or "unix:/path"; ``tls``: True (system roots) or a CA file; ``token``: bearer token;
        ``shared_memory``: stream frames through shared memory (default: where the daemon is on this machine,
        a unix socket or loopback; bytes on the wire where it cannot be used)."""
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
        self.shared_memory = on_this_machine(target) if shared_memory is None else shared_memory
        self.opened: dict[str, _OpenedClip] = {}   # clips this client opened and has not closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Close the clips this client left open (their frames would wait on the daemon until its idle
        timeout), then the channel."""
        for clip_id in sorted(self.opened):
            try:
                self.stub.CloseClip(pb.ClipHandle(clip_id=self._wire(clip_id)), metadata=self._about(clip_id),
                                    timeout=10)
            except grpc.RpcError:   # gone already: a broken-off stream closes its clip on the daemon
                pass
        self.opened.clear()
        self.channel.close()

    def _wire(self, clip_id: str) -> str:
        """The id the clip goes by on its daemon: the caller's, unless failover re-opened it under a new one."""
        opened = self.opened.get(clip_id)
        return opened.request.clip_id if opened else clip_id

    def _about(self, clip_id: str) -> tuple:
        """The call's metadata: the token, and the id the clip goes by for the proxy to route by (an id no daemon
        accepts goes without: the daemon names the problem, and an oversized header would fail the call before)."""
        clip_id = self._wire(clip_id)
        return (*self.metadata, (CLIP_HEADER, clip_id)) if len(clip_id) <= MAX_CLIP_ID_CHARS else self.metadata

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
        reply, call = self.stub.AnalyzeStills.with_call(request, metadata=self.metadata, timeout=self.timeout)
        return [_result(c, i, _server_of(call)) for i, c in enumerate(reply.corrections)]

    @_calls
    def open_clip(self, mode: str = "cdl_frames", window_radius: int = DEFAULT_WINDOW_RADIUS, name: str = "", corrections_only: bool = False,
                  return_lut: bool = False, oversample: int = 1, blend_radius: int = 0,
                  reference: np.ndarray | None = None, clip_id: str | None = None) -> str:
        """A clip on the daemon -> its id. ``reference``: a graded hero frame every frame is matched to
        (analysis modes); send it at the size of the frames or a little larger (a thumbnail will do).
        ``clip_id``: the id to open it under (default: a fresh random one); refused while it is open."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        settings = pb.ClipSettings(mode=MODES[mode].wire, window_radius=window_radius, corrections_only=corrections_only,
                                   return_lut=return_lut, oversample=oversample, blend_radius=blend_radius)
        request = pb.OpenClipRequest(settings=settings, name=name, clip_id=clip_id or uuid.uuid4().hex)
        if reference is not None:
            request.reference.CopyFrom(encode_frame(reference))
        reply = self.stub.OpenClip(request, metadata=self._about(request.clip_id), timeout=self.timeout)
        request.clip_id = reply.clip_id   # a daemon older than client-chosen ids chose its own
        self.opened[reply.clip_id] = _OpenedClip(request, reply.reach)
        return reply.clip_id

    def _failover(self, clip_id: str, error: grpc.RpcError, attempt: int) -> int:
        """After a call about ``clip_id`` failed with ``error``: re-open the clip wherever the proxy now sends it
        (after a pause that gives the proxy's health checks time to take a dead daemon out), retrying while
        the re-open itself meets a dead daemon, under a new id once the clip's own has met it
        REOPENS_UNDER_OWN_ID times -> the attempts used. Raises GradeError when the failure is not a lost
        daemon, the clip is not this client's, or the attempts run out."""
        reopens = 0
        while True:
            lost = error.code() in FAILOVER_CODES or (error.code() == grpc.StatusCode.INTERNAL
                                                      and STREAM_RESET in (error.details() or ""))
            if clip_id not in self.opened or not lost or attempt >= len(FAILOVER_DELAYS_S):
                raise GradeError(error.code(), error.details())
            time.sleep(FAILOVER_DELAYS_S[attempt])
            attempt += 1
            if reopens >= REOPENS_UNDER_OWN_ID:
                self.opened[clip_id].request.clip_id = uuid.uuid4().hex   # hashed anew, to another daemon
            reopens += 1
            try:
                self._reopen(clip_id)
                return attempt
            except grpc.RpcError as reopen_error:
                error = reopen_error

    def _reopen(self, clip_id: str) -> None:
        opened = self.opened[clip_id]
        handle = pb.ClipHandle(clip_id=opened.request.clip_id)
        try:
            reply = self.stub.OpenClip(opened.request, metadata=self._about(clip_id), timeout=self.timeout)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            # Its daemon is alive and still holds it (a network blip): start it afresh there.
            self.stub.CloseClip(handle, metadata=self._about(clip_id), timeout=self.timeout)
            reply = self.stub.OpenClip(opened.request, metadata=self._about(clip_id), timeout=self.timeout)
        opened.request.clip_id = reply.clip_id   # a daemon older than client-chosen ids chose its own

    @_calls
    def close_clip(self, clip_id: str) -> int:
        """Close a clip -> the frames its daemon answered. A clip this client opened whose daemon is gone is
        closed already: 0."""
        metadata = self._about(clip_id)
        handle = pb.ClipHandle(clip_id=self._wire(clip_id))
        opened = self.opened.pop(clip_id, None)
        try:
            return self.stub.CloseClip(handle, metadata=metadata, timeout=self.timeout).frames_processed
        except grpc.RpcError as error:
            if opened is not None and error.code() in FAILOVER_CODES:
                return 0
            raise

    def stream(self, clip_id: str, frames, first_index: int = 0):
        """Frames in order -> Results in order (a generator); the clip's window is flushed at the end.

        Read it to the end: a stream left unread is cancelled, and the daemon closes a clip whose stream
        was broken off (it frees the frames of clients that vanished). An error raised by ``frames`` itself
        (an unreadable file) is raised as it is, not as the UNKNOWN status gRPC would make of it. When the
        clip's daemon dies, the clip is re-opened elsewhere and the frames its window still needs are
        replayed: the results go on from where they stopped, the same as they would have been."""
        opened = self.opened.get(clip_id)
        feed = _Feed(frames, first_index, opened.reach if opened else 0, self.shared_memory)
        expected, replay, attempt = first_index, [], 0
        try:
            while True:
                try:
                    call = self.stub.StreamClip(feed.requests(self._wire(clip_id), replay), metadata=self._about(clip_id))
                    server = _server_of(call)
                    for message in call:
                        result = _result(message, server=server, shared=feed.shared)
                        feed.answered(result.index)
                        if result.index < expected:   # a replayed frame's result, given before the failover
                            continue
                        expected = result.index + 1
                        yield result
                    return
                except grpc.RpcError as error:
                    if feed.raised:
                        raise feed.raised[0] from None
                    shared_refused = feed.shared is not None and expected == first_index and \
                        error.code() == grpc.StatusCode.INVALID_ARGUMENT and "shared-memory" in (error.details() or "")
                    replay = feed.replay()
                    if not shared_refused:   # a daemon that cannot map this machine's memory gets bytes instead
                        attempt = self._failover(clip_id, error, attempt)
        finally:
            feed.close()

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
        attempt = 0
        while True:
            request.clip_id = self._wire(clip_id)   # after a failover, maybe a new one
            try:
                reply, call = self.stub.GradeFrame.with_call(request, metadata=self._about(clip_id),
                                                             timeout=self.timeout)
                return _result(reply, server=_server_of(call))
            except grpc.RpcError as error:
                attempt = self._failover(clip_id, error, attempt)
