"""Shared-memory regions for frames between a client and a daemon on one machine (the pattern of Triton's
system shared-memory extension): the client creates a region, writes frames into slots of it and sends their
places (``SharedSlot``); the daemon maps the region for the clip's life, reads each frame out and writes the
graded frame into the slot the client named. A 1080p frame then crosses no socket, only a memory copy.

A region is a POSIX shared-memory object (``/dev/shm/NAME`` on Linux) created with mode 0600, so only the
daemon's own user can map it, and unlinked by the daemon as soon as it has mapped it (by the client where the
daemon never did), so nobody can map it afterwards; its memory goes when both sides have unmapped it,
whichever dies first. A client killed before its daemon mapped a region leaves the name behind: the next
client of that user removes the names of processes that are gone.
"""
from __future__ import annotations

import mmap
import os
import re
import secrets
from pathlib import Path

from colorgrade.proto.codec import REGION_NAME_PATTERN

SHM_FOLDER = Path("/dev/shm")
PREFIX = "colorgrade-"   # then the creating process's id


class RegionError(ValueError):
    """A region or slot that cannot be used (missing, too small, not this user's, a bad name)."""


class Region:
    """One mapped region: ``create`` (the client) or ``attach`` (the daemon)."""

    def __init__(self, name: str, size: int, memory: mmap.mmap):
        self.name, self.size, self.memory = name, size, memory
        self.linked = True   # its name is still there to unlink

    @classmethod
    def create(cls, size: int) -> "Region":
        """A fresh region of ``size`` bytes, named for this process; RegionError where the machine has none."""
        remove_orphans()
        name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        try:
            descriptor = os.open(SHM_FOLDER / name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as error:
            raise RegionError(f"no shared memory here ({error.strerror})") from None
        try:
            os.ftruncate(descriptor, size)
            return cls(name, size, mmap.mmap(descriptor, size))
        except OSError as error:
            os.unlink(SHM_FOLDER / name)
            raise RegionError(f"cannot size a shared-memory region of {size} bytes ({error.strerror})") from None
        finally:
            os.close(descriptor)

    @classmethod
    def attach(cls, name: str, size: int) -> "Region":
        """Map the region a client named, checking its name, owner and size."""
        if not re.fullmatch(REGION_NAME_PATTERN, name):
            raise RegionError(f"shared-memory region name {name[:80]!r} is not 1-64 of A-Z a-z 0-9 - _ .")
        try:
            descriptor = os.open(SHM_FOLDER / name, os.O_RDWR | os.O_NOFOLLOW)
        except OSError as error:
            raise RegionError(f"shared-memory region {name!r}: {error.strerror}") from None
        try:
            status = os.fstat(descriptor)
            if status.st_uid != os.getuid():
                raise RegionError(f"shared-memory region {name!r} belongs to another user")
            if status.st_size < size or size <= 0:
                raise RegionError(f"shared-memory region {name!r} holds {status.st_size} bytes, not {size}")
            return cls(name, size, mmap.mmap(descriptor, size))
        finally:
            os.close(descriptor)

    def slot(self, offset: int, byte_count: int) -> memoryview:
        """The bytes of one frame in this region; RegionError where they do not lie within it."""
        if offset < 0 or byte_count <= 0 or offset + byte_count > self.size:
            raise RegionError(f"a slot of {byte_count} bytes at offset {offset} does not lie within shared-memory "
                              f"region {self.name!r} ({self.size} bytes)")
        return memoryview(self.memory)[offset:offset + byte_count]

    def unlink(self) -> None:
        """Remove the region's name: whoever mapped it keeps it, nobody else can map it any more. Once done, a
        call costs nothing (a stream's client calls it with every result it reads)."""
        if not self.linked:
            return
        self.linked = False
        try:
            os.unlink(SHM_FOLDER / self.name)
        except FileNotFoundError:   # the daemon unlinked it once it had mapped it
            pass

    def close(self) -> None:
        try:
            self.memory.close()
        except BufferError:   # a frame still views it: its memory goes when that view does
            pass


def remove_orphans() -> None:
    """Unlink this user's region names whose creating process is gone."""
    try:
        names = [path for path in SHM_FOLDER.glob(f"{PREFIX}*") if path.stat().st_uid == os.getuid()]
    except OSError:
        return
    for path in names:
        pid = path.name[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                path.unlink()
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
