"""Frames through shared memory for a client on the daemon's machine: the same results as bytes on the wire,
no region left behind, a bad handle refused with INVALID_ARGUMENT, and bytes where a region cannot be mapped."""
import os
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest

from colorgrade.clients import GradeClient
from colorgrade.clients.client import on_this_machine
from colorgrade.clients.shared_frames import SharedFrames
from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto import grader_pb2_grpc as pb_grpc
from colorgrade.proto.codec import CLIP_HEADER, frame_header
from colorgrade.proto.shared_memory import PREFIX, SHM_FOLDER, Region
from daemon_fixtures import RunningDaemon


@pytest.fixture(scope="module")
def daemon():
    with RunningDaemon("--port", "0", "--untrained-models") as daemon:
        yield daemon


def regions_left() -> list[str]:
    return sorted(path.name for path in SHM_FOLDER.glob(f"{PREFIX}{os.getpid()}-*"))


def frames_of(dtype, count=9, size=(48, 80, 4)):
    rng = np.random.default_rng(7)
    top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1
    return [(rng.random(size) * top).astype(dtype) for _ in range(count)]


def graded(address, frames, shared_memory, **settings):
    with GradeClient(address, shared_memory=shared_memory) as client:
        clip = client.open_clip(**settings)
        results = list(client.stream(clip, frames))
        client.close_clip(clip)
    return results


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float16])
@pytest.mark.parametrize("mode", ["cdl_frames", "generator_lut", "parameters"])
def test_a_stream_through_shared_memory_gives_what_bytes_give(daemon, dtype, mode):
    frames = frames_of(dtype)
    before = regions_left()
    shared = graded(daemon.address, frames, True, mode=mode, window_radius=2)
    assert regions_left() == before                     # the stream's regions are gone with it
    wire = graded(daemon.address, frames, False, mode=mode, window_radius=2)
    assert [r.index for r in shared] == list(range(len(frames)))
    for a, b in zip(shared, wire):
        np.testing.assert_array_equal(a.cdl.to_vector() if a.cdl else 0, b.cdl.to_vector() if b.cdl else 0)
        assert (a.frame is None) == (b.frame is None) == (mode == "parameters")
        if a.frame is not None:
            assert a.frame.dtype == dtype and np.array_equal(a.frame, b.frame)


def test_results_stay_whole_when_the_caller_keeps_them_and_frames_change_size(daemon):
    """Results are copies (the slots are reused); a frame of another size goes as bytes."""
    frames = frames_of(np.uint8, count=20) + frames_of(np.uint8, count=3, size=(30, 50, 3))
    shared = graded(daemon.address, frames, True, mode="cdl_frames", window_radius=1)
    wire = graded(daemon.address, frames, False, mode="cdl_frames", window_radius=1)
    assert all(np.array_equal(a.frame, b.frame) for a, b in zip(shared, wire)) and len(shared) == 23


def test_the_client_chooses_shared_memory_only_for_a_daemon_on_this_machine():
    assert on_this_machine("unix:/tmp/daemon.sock") and on_this_machine("127.0.0.1:50051")
    assert on_this_machine("localhost:50051") and on_this_machine("[::1]:50051")
    assert not on_this_machine("gradebox:50051") and not on_this_machine("10.0.0.5:50051")


def test_a_region_the_daemon_cannot_map_falls_back_to_bytes(daemon, monkeypatch):
    """As for a daemon in another container or of another user: the stream goes on in bytes, same results."""
    def unmappable(self):   # the names are gone before the daemon looks for them
        self.frames_in.unlink()
        self.frames_out.unlink()
        return [pb.SharedRegion(name=r.name, byte_size=r.size) for r in (self.frames_in, self.frames_out)]

    frames = frames_of(np.uint8)
    wire = graded(daemon.address, frames, False, mode="cdl_frames")
    monkeypatch.setattr(SharedFrames, "regions", unmappable)
    shared = graded(daemon.address, frames, True, mode="cdl_frames")
    assert all(np.array_equal(a.frame, b.frame) for a, b in zip(shared, wire))


def stream_once(address, requests, clip_id):
    with grpc.insecure_channel(address) as channel:
        return list(pb_grpc.GraderStub(channel).StreamClip(iter(requests), metadata=((CLIP_HEADER, clip_id),)))


@pytest.mark.parametrize("case", ["unknown region", "outside the region", "a path for a name", "another size"])
def test_a_bad_handle_is_invalid_argument_and_the_daemon_serves_on(daemon, case):
    frame = frames_of(np.uint8, count=1)[0]
    region = Region.create(frame.nbytes)
    try:
        with GradeClient(daemon.address, shared_memory=False) as client:
            clip = client.open_clip(mode="cdl_frames", window_radius=0)
            header = frame_header(frame, 0)
            header.shared.CopyFrom(pb.SharedSlot(region=region.name, offset=0))
            request = pb.StreamRequest(clip_id=clip, frame=header)
            request.regions.add(name=region.name, byte_size=region.size)
            if case == "unknown region":
                header.shared.region = "colorgrade-0-nothere"
                request.frame.CopyFrom(header)
            elif case == "outside the region":
                request.frame.shared.offset = 1
            elif case == "a path for a name":
                request.regions[0].name = "../etc/passwd"
            else:
                request.regions[0].byte_size = region.size * 2
            with pytest.raises(grpc.RpcError) as refused:
                stream_once(daemon.address, [request, pb.StreamRequest(clip_id=clip, end_of_clip=True)], clip)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "shared-memory" in refused.value.details() or "shared memory" in refused.value.details()
            result, = client.stream(clip, [frame])      # the same clip, in bytes, is served
            assert result.frame.shape == frame.shape
    finally:
        region.unlink()
        region.close()


def test_a_killed_client_leaves_no_region_and_its_clip_is_closed(daemon):
    code = ("import os, numpy as np\nfrom colorgrade.clients import GradeClient\n"
            f"client = GradeClient({daemon.address!r}, shared_memory=True)\n"
            "clip = client.open_clip(mode='cdl_frames')\n"
            "frames = (np.full((48, 80, 3), i, np.uint8) for i in range(10**6))\n"
            "for n, result in enumerate(client.stream(clip, frames)):\n"
            "    if n == 5:\n        print('streaming', flush=True)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "streaming"
    child.kill()
    child.wait()
    assert sorted(SHM_FOLDER.glob(f"{PREFIX}{child.pid}-*")) == []
    with GradeClient(daemon.address) as client:   # the broken-off stream closed its clip, unmapping its regions
        deadline = time.monotonic() + 10
        while client.info().open_clips and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.info().open_clips == 0


def test_a_slot_is_written_again_only_once_the_daemon_has_read_its_frame():
    """Result t proves frames up to t + reach read: until then their slots are not written again (frames
    arrive before any result, so at first only as many frames as there are slots go)."""
    frame = np.zeros((4, 6, 3), np.uint8)
    shared = SharedFrames(frame, reach=2, first_index=5)
    try:
        ahead = 5 + shared.inputs
        assert all(shared.put(index, frame, lambda: True) is not None for index in range(5, ahead))
        assert shared.put(ahead, frame, lambda: False) is None       # its slot holds frame 5, maybe unread
        shared.read(5)                                               # result 5: frames 5..7 were read
        assert all(shared.put(index, frame, lambda: True) is not None for index in range(ahead, ahead + 3))
        assert shared.put(ahead + 3, frame, lambda: False) is None
    finally:
        shared.close()
