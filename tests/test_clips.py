"""ClipStore as a plain class: settings, reach, frame memory, idle eviction."""
import time

import numpy as np
import pytest

from colorgrade.proto.codec import MODES
from colorgrade.server.clips import ClipSettings, ClipStore, LimitExceeded
from colorgrade.server.limits import Limits
from colorgrade.server.protocol import Description

# What an engine serving a temporal generator (radius 2) would describe.
MODELS = Description(device="cpu", batch_size=1, labels=["clean", "warm_33"], generator_radius=2,
                     working_size=[144, 256], analysis_size=96, models=[])


def test_open_keeps_name_and_sets_reach_per_mode():
    store = ClipStore(Limits(), MODELS)
    cases = [(MODES["cdl_frames"], 3, 0, 3), (MODES["generator_frames"], 3, 1, 3), (MODES["generator_lut"], 0, 1, 6)]
    for mode, window, blend, reach in cases:
        clip = store.open(ClipSettings(mode=mode, window_radius=window, blend_radius=blend), "shot_010")
        assert clip.name == "shot_010" and clip.reach == reach


def test_frame_memory_is_counted_across_clips_evicted_and_released():
    frame = np.zeros((10, 10, 3), np.uint8)              # 300 bytes
    store = ClipStore(Limits(max_buffer_bytes=3000, frames_per_clip=4), MODELS)
    a = store.open(ClipSettings(mode=MODES["cdl_frames"], window_radius=1), "a")
    b = store.open(ClipSettings(mode=MODES["cdl_frames"], window_radius=1), "b")
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
    store = ClipStore(Limits(idle_ttl_s=0.3), MODELS)
    streaming = store.open(ClipSettings(mode=MODES["cdl_frames"]), "long take")
    forgotten = store.open(ClipSettings(mode=MODES["cdl_frames"]), "abandoned")
    for i in range(4):
        time.sleep(0.1)
        store.keep(streaming, i, np.zeros((2, 2, 3), np.uint8))
    store.evict_idle()
    assert streaming.clip_id in store.clips and forgotten.clip_id not in store.clips
