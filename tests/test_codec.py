"""numpy frames and colour values ⇄ wire messages."""
import numpy as np
import pytest

from colorgrade.color import CDL, LUT3D
from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto.codec import (FrameError, cdl_from_message, cdl_to_message, decode_frame, encode_frame,
                                    lut_from_message, lut_to_message)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float16, np.float32])
@pytest.mark.parametrize("channels", [3, 4])
def test_frames_round_trip_every_type(rng, dtype, channels):
    if np.dtype(dtype).kind == "u":
        image = rng.integers(0, np.iinfo(dtype).max + 1, size=(7, 5, channels)).astype(dtype)
    else:
        image = rng.random((7, 5, channels)).astype(dtype)
    frame = encode_frame(image, index=12)
    assert (frame.width, frame.height, frame.channels, frame.index) == (5, 7, channels, 12)
    decoded = decode_frame(pb.Frame.FromString(frame.SerializeToString()))
    assert decoded.dtype == np.dtype(dtype) and not decoded.flags.writeable
    np.testing.assert_array_equal(decoded, image)


def test_wrong_byte_count_is_named():
    frame = encode_frame(np.zeros((4, 4, 3), np.uint8))
    frame.data = frame.data[:-1]
    with pytest.raises(FrameError, match="needs 48 bytes, got 47"):
        decode_frame(frame)


@pytest.mark.parametrize("change, problem", [
    ({"pixel_type": pb.PIXEL_TYPE_UNSPECIFIED}, "unknown pixel type"),
    ({"pixel_type": 99}, "unknown pixel type"),
    ({"width": 0}, "empty size"),
    ({"channels": 2}, "2 channels"),
    ({"width": 100000, "height": 100000}, "exceeds the server's cap"),
])
def test_bad_headers_rejected_before_allocation(change, problem):
    frame = encode_frame(np.zeros((4, 4, 3), np.uint8))
    for field, value in change.items():
        setattr(frame, field, value)
    with pytest.raises(FrameError, match=problem):
        decode_frame(frame)


def test_non_finite_float_frames_rejected():
    image = np.zeros((2, 2, 3), np.float32)
    image[1, 1, 2] = np.nan
    with pytest.raises(FrameError, match="NaN or Inf"):
        decode_frame(encode_frame(image))


def test_encode_rejects_bad_arrays():
    with pytest.raises(FrameError, match="shape"):
        encode_frame(np.zeros((4, 4), np.uint8))
    with pytest.raises(FrameError, match="unsupported sample type"):
        encode_frame(np.zeros((4, 4, 3), np.int32))


def test_cdl_and_lut_messages_round_trip(rng):
    cdl = CDL((1.1, 0.9, 1.0), (0.01, -0.02, 0.0), (1.0, 1.1, 0.9), 0.8)
    assert cdl_from_message(cdl_to_message(cdl)) == cdl
    lut = LUT3D(rng.random((5, 5, 5, 3), dtype=np.float32))
    np.testing.assert_array_equal(lut_from_message(lut_to_message(lut)).table, lut.table)
