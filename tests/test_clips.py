"""ClipStore and the front end's CDL application as plain classes: settings, reach, frame memory, bands."""
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto.cdl import CDL
from colorgrade.server.clips import ClipStore, LimitExceeded, apply_to_frame
from colorgrade.server.limits import Limits


def test_open_keeps_name_and_sets_reach_per_mode():
    store = ClipStore(Limits(), generator_radius=2)
    cases = [(pb.MODE_CDL_FRAMES, 3, 0, 3), (pb.MODE_GENERATOR_FRAMES, 3, 1, 3), (pb.MODE_GENERATOR_LUT, 0, 1, 6)]
    for mode, window, blend, reach in cases:
        clip = store.open(pb.ClipSettings(mode=mode, window_radius=window, blend_radius=blend), "shot_010")
        assert clip.name == "shot_010" and clip.reach == reach


def test_frame_memory_is_counted_across_clips_evicted_and_released():
    frame = np.zeros((10, 10, 3), np.uint8)              # 300 bytes
    store = ClipStore(Limits(max_buffer_bytes=3000, frames_per_clip=4), generator_radius=2)
    a = store.open(pb.ClipSettings(mode=pb.MODE_CDL_FRAMES, window_radius=1), "a")
    b = store.open(pb.ClipSettings(mode=pb.MODE_CDL_FRAMES, window_radius=1), "b")
    for i in range(6):                                   # a keeps its newest 4 frames
        store.keep(a, i, frame.copy())
    assert list(a.frames) == [2, 3, 4, 5] and store.held_bytes == 1200
    for i in range(6):
        store.keep(b, i, frame.copy(), extra_frames=2)   # a stream in progress keeps 2 more
    assert len(b.frames) == 5 and store.held_bytes == 2700
    with pytest.raises(LimitExceeded, match="frame memory cap of 3000 bytes"):
        store.keep(a, 6, np.zeros((20, 10, 3), np.uint8))
    store.close(a.clip_id)
    assert store.held_bytes == 1500


def test_a_clip_receiving_frames_is_not_evicted_as_idle():
    store = ClipStore(Limits(idle_ttl_s=0.3), generator_radius=2)
    streaming = store.open(pb.ClipSettings(mode=pb.MODE_CDL_FRAMES), "long take")
    forgotten = store.open(pb.ClipSettings(mode=pb.MODE_CDL_FRAMES), "abandoned")
    for i in range(4):
        time.sleep(0.1)
        store.keep(streaming, i, np.zeros((2, 2, 3), np.uint8))
    store.evict_idle()
    assert streaming.clip_id in store.clips and forgotten.clip_id not in store.clips


@pytest.mark.parametrize("dtype, channels", [(np.uint8, 3), (np.uint8, 4), (np.uint16, 3), (np.float32, 4)])
def test_bands_on_threads_grade_exactly_like_one_pass(dtype, channels):
    rng = np.random.default_rng(0)
    frame = rng.random((37, 23, channels))
    frame = (frame * np.iinfo(dtype).max).astype(dtype) if dtype != np.float32 else frame.astype(dtype)
    cdl = CDL((1.2, 0.9, 1.05), (0.02, -0.01, 0.0), (0.9, 1.1, 1.0), 1.3)
    with ThreadPoolExecutor(3) as pool:
        banded = apply_to_frame(cdl, frame, pool, bands=3)
    np.testing.assert_array_equal(banded, apply_to_frame(cdl, frame))
    assert banded.dtype == frame.dtype and banded.shape == frame.shape
