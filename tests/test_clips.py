"""ClipStore as a plain class: what a clip keeps of its settings, and its reach per mode."""
from colorgrade.proto import grader_pb2 as pb
from colorgrade.server.clips import ClipStore
from colorgrade.server.limits import Limits


def test_open_keeps_name_and_sets_reach_per_mode():
    store = ClipStore(Limits(), generator_radius=2)
    cases = [(pb.MODE_CDL_FRAMES, 3, 0, 3), (pb.MODE_GENERATOR_FRAMES, 3, 1, 3), (pb.MODE_GENERATOR_LUT, 0, 1, 6)]
    for mode, window, blend, reach in cases:
        clip = store.open(pb.ClipSettings(mode=mode, window_radius=window, blend_radius=blend), "shot_010")
        assert clip.name == "shot_010" and clip.reach == reach
