"""A stream's frames through shared memory, for a client on the daemon's machine: two regions of slots
(frames in, graded frames out), each frame copied in once and each result copied out once, no pixels in gRPC
messages. The slots are reused round robin, so the client writes a frame into a slot only once the daemon
has read the frame that held it before, and the daemon writes a result into a slot only once the client has
read the one before: what the results received so far prove (a result for frame t means frames up to
t + reach were read). See ``colorgrade.proto.shared_memory``."""
from __future__ import annotations

import threading

import numpy as np

from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto.codec import frame_header
from colorgrade.proto.shared_memory import Region

SPARE_SLOTS = 6   # input slots beyond the window: frames the client may send ahead of the results


class SharedFrames:
    """The slots of one stream whose frames are all ``template``'s size and type."""

    def __init__(self, template: np.ndarray, reach: int, first_index: int):
        self.shape, self.dtype, self.frame_bytes = template.shape, template.dtype, template.nbytes
        self.inputs = 2 * reach + SPARE_SLOTS
        # Frame t may be sent once result t - inputs - reach came back; result t is made after frame t + reach
        # arrived, so the daemon never runs more than inputs + reach results ahead of the client's reading.
        self.outputs = self.inputs + reach + 1
        self.reach = reach
        self.frames_in = Region.create(self.inputs * self.frame_bytes)
        try:
            self.frames_out = Region.create(self.outputs * self.frame_bytes)
        except Exception:
            self.frames_in.unlink()
            self.frames_in.close()
            raise
        # As if result first - 1 - reach had been read: that proves frames before the first read, none of its own.
        self.read_up_to = first_index - 1 - reach
        self.changed = threading.Condition()

    def regions(self) -> list[pb.SharedRegion]:
        return [pb.SharedRegion(name=region.name, byte_size=region.size) for region in (self.frames_in, self.frames_out)]

    def fits(self, frame: np.ndarray) -> bool:
        return frame.shape == self.shape and frame.dtype == self.dtype

    def put(self, index: int, frame: np.ndarray, still_wanted) -> tuple[pb.Frame, pb.SharedSlot] | None:
        """Frame ``index`` written into its slot -> (its header, the slot its result goes to); None when
        ``still_wanted()`` turns false while waiting for the slot (the call was superseded)."""
        with self.changed:
            while self.read_up_to < index - self.inputs - self.reach:
                if not still_wanted():
                    return None
                self.changed.wait(0.2)
        offset = (index % self.inputs) * self.frame_bytes
        np.copyto(np.frombuffer(self.frames_in.slot(offset, self.frame_bytes), self.dtype).reshape(self.shape), frame)
        header = frame_header(frame, index)
        header.shared.CopyFrom(pb.SharedSlot(region=self.frames_in.name, offset=offset))
        output = pb.SharedSlot(region=self.frames_out.name, offset=(index % self.outputs) * self.frame_bytes)
        return header, output

    def result(self, slot: pb.SharedSlot, byte_count: int) -> memoryview:
        """A result's samples, where the daemon wrote them (decode_frame copies them out)."""
        if slot.region != self.frames_out.name:
            raise ValueError(f"the daemon answered in shared-memory region {slot.region!r}, not this stream's")
        return self.frames_out.slot(slot.offset, byte_count)

    def read(self, index: int) -> None:
        """Result ``index`` has been read: its slot, and the input slots it proves read, may be written again.
        The first result also proves the daemon mapped both regions, so their names go (nobody else can map
        them now)."""
        with self.changed:
            if self.read_up_to < index:
                self.read_up_to = index
            self.changed.notify_all()
        self.frames_in.unlink()
        self.frames_out.unlink()

    def close(self) -> None:
        for region in (self.frames_in, self.frames_out):
            region.unlink()
            region.close()
