"""A fake of DaVinci Resolve's scripting object model, as its scripting README documents it.

Class and method names, argument types and orders follow the README (and the fusionscript-stubs
typed from it; ``tests/test_resolve.py`` checks every method here against them). Behaviour kept:
calls return False/None on failure instead of raising; indices are 1-based; ``GrabStill`` adds a still of
the clip under the playhead to the current album, ``ExportStills`` writes it as graded (with a .drx); SetCDL takes strings
only ("r g b") and a NodeIndex within the current version's graph; SetLUT succeeds only for LUTs
Resolve has listed (files under the master LUT folder at the last RefreshLUTList); a new colour
version starts with a single blank node and the version on screen cannot be deleted; markers are keyed
by their frame offset (a float), one per frame. Resolve opens a project on the Edit page, and ``GrabStill``
grabs nothing (None) off the Color page. The scripting bridge hands out a new wrapper object on every call
that returns a timeline or an item, so two handles on one item are never ``is`` (nor ``==``) the same:
only ``GetUniqueId`` tells them apart.
"""
import os
import uuid


PAGES = ("media", "cut", "edit", "fusion", "color", "fairlight", "deliver")


class _Bridged:
    """A handle on an object inside Resolve: each call that returns one makes a new handle."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        return getattr(self._target, name)


class Resolve:
    def __init__(self, project):
        self.project_manager = ProjectManager(project)
        self.page = "edit"
        self.pages_opened = []
        if project is not None:
            project.resolve = self

    def GetProjectManager(self):
        return self.project_manager

    def GetCurrentPage(self):
        return self.page

    def OpenPage(self, pageName):
        if pageName not in PAGES:
            return False
        self.page = pageName
        self.pages_opened.append(pageName)
        return True


class ProjectManager:
    def __init__(self, project):
        self.project = project

    def GetCurrentProject(self):
        return self.project


class Project:
    def __init__(self, timeline, lut_folder, settings=None):
        self.timeline, self.lut_folder = timeline, lut_folder
        # A new project's colour management, as Resolve reports it (Project.GetSetting keys and values).
        self.settings = {"colorScienceMode": "davinciYRGB", "colorSpaceTimeline": "Rec.709 Gamma 2.4",
                         **(settings or {})}
        self.listed_luts = set()
        self.refreshes = 0
        self.gallery = Gallery()
        self.resolve = None   # the Resolve showing it: GrabStill depends on its page

    def GetCurrentTimeline(self):
        return _Bridged(self.timeline) if self.timeline else None

    def GetGallery(self):
        return self.gallery

    def GetSetting(self, settingName):
        return self.settings.get(settingName, "")

    def RefreshLUTList(self):
        self.refreshes += 1
        self.listed_luts = {os.path.join(root, name) for root, _, names in os.walk(self.lut_folder)
                            for name in names if name.lower().endswith((".cube", ".3dl", ".dat"))}
        return True


class Timeline:
    def __init__(self, name, tracks):
        self.name, self.tracks = name, tracks      # tracks: a list (track 1 first) of lists of TimelineItems
        self.current = None
        self.unique_id = str(uuid.uuid4())

    def GetName(self):
        return self.name

    def GetUniqueId(self):
        return self.unique_id

    def GetTrackCount(self, trackType):
        return len(self.tracks) if trackType == "video" else 0

    def GetItemListInTrack(self, trackType, index):
        if trackType != "video" or not 1 <= index <= len(self.tracks):
            return None
        return [_Bridged(item) for item in self.tracks[index - 1]]

    def GetCurrentVideoItem(self):
        return _Bridged(self.current) if self.current else None

    def GrabStill(self):
        """A still of the clip under the playhead (its middle frame here), as graded now; None without a clip
        or off the Color page."""
        if self.current is None or self.current.project.resolve.page != "color":
            return None
        still = GalleryStill(self.current)
        album = self.current.project.gallery.GetCurrentStillAlbum()
        album.stills.append(still)
        return still


class GalleryStill:
    def __init__(self, item):
        self.item = item


class Gallery:
    def __init__(self):
        self.album = GalleryStillAlbum()

    def GetCurrentStillAlbum(self):
        return self.album


class GalleryStillAlbum:
    def __init__(self):
        self.stills = []

    def GetStills(self):
        return list(self.stills)

    def ExportStills(self, galleryStills, folderPath, filePrefix, format):
        """Each still as ``<prefix>_<n>.<format>`` with its grade file ``.drx`` beside it (png and tif here)."""
        if format not in ("png", "tif") or not os.path.isdir(folderPath) or \
                any(still not in self.stills for still in galleryStills):
            return False
        from colorgrade.clients import media
        from colorgrade.color import CDL, apply

        for number, still in enumerate(galleryStills, 1):
            item = still.item
            middle = (item.source_start + item.source_end - 1) // 2 - int(item.media.GetClipProperty("Start"))
            frame = next(f for _, f in media.numbered_frames(item.media.GetClipProperty("File Path"), middle, middle))
            node = item.versions[item.current_version][0]["cdl"]
            if node:
                frame = apply(CDL(*(tuple(float(v) for v in node[k].split()) for k in ("Slope", "Offset", "Power")),
                                  float(node["Saturation"])), frame)
            base = os.path.join(folderPath, "%s_%d" % (filePrefix, number))
            media.write_image(base + "." + format, frame)
            with open(base + ".drx", "w") as handle:
                handle.write("<grade/>")
        return True

    def DeleteStills(self, galleryStills):
        if any(still not in self.stills for still in galleryStills):
            return False
        self.stills = [still for still in self.stills if still not in galleryStills]
        return True


class MediaPoolItem:
    def __init__(self, path, clip_type="Video", start=0):
        # "Start": the media's first frame number, from its start timecode (86400 for 01:00:00:00 at 24 fps).
        self.properties = {"File Path": path, "Type": clip_type, "Start": str(start)}

    def GetClipProperty(self, propertyName=None):
        if propertyName is None:
            return dict(self.properties)
        return self.properties.get(propertyName, "")


class Graph:
    def __init__(self, project, nodes):
        self.project, self.nodes = project, nodes

    def GetNumNodes(self):
        return len(self.nodes)

    def SetLUT(self, nodeIndex, lutPath):
        if not isinstance(nodeIndex, int) or not 1 <= nodeIndex <= len(self.nodes):
            return False
        path = lutPath if os.path.isabs(lutPath) else os.path.join(self.project.lut_folder, lutPath)
        if path not in self.project.listed_luts:
            return False
        self.nodes[nodeIndex - 1]["lut"] = path
        return True


class TimelineItem:
    def __init__(self, project, name, media, first, last, duration=None):
        """Source frames ``first``..``last`` of the file (from 0) on the timeline, over ``duration`` timeline
        frames (a retime when it differs). Resolve counts source frames from the media's start timecode
        and reports the end frame as the one after the last (Resolve's README leaves it open; the
        script works either way)."""
        self.project, self.name, self.media = project, name, media
        origin = int(media.GetClipProperty("Start")) if media else 0
        self.source_start, self.source_end = origin + first, origin + last + 1
        self.duration = last - first + 1 if duration is None else duration
        # The colourist's own grade, in the version every clip starts with.
        self.versions = {"Version 1": [{"cdl": {"Slope": "1.1 1 0.9", "Offset": "0 0 0", "Power": "1 1 1",
                                                "Saturation": "1"}, "lut": None}, {"cdl": None, "lut": None}]}
        self.current_version = "Version 1"
        self.markers = {}
        self.unique_id = str(uuid.uuid4())

    def GetName(self):
        return self.name

    def GetUniqueId(self):
        return self.unique_id

    def GetMediaPoolItem(self):
        return self.media

    def GetSourceStartFrame(self):
        return self.source_start

    def GetSourceEndFrame(self):
        return self.source_end

    def GetDuration(self, subframe_precision):
        return float(self.duration) if subframe_precision else self.duration

    def AddVersion(self, versionName, versionType):
        if versionType not in (0, 1) or not versionName or versionName in self.versions:
            return False
        self.versions[versionName] = [{"cdl": None, "lut": None}]
        return True

    def LoadVersionByName(self, versionName, versionType):
        if versionType not in (0, 1) or versionName not in self.versions:
            return False
        self.current_version = versionName
        return True

    def DeleteVersionByName(self, versionName, versionType):
        # Resolve keeps the version on screen: it cannot be deleted until another is loaded.
        if versionType != 0 or versionName not in self.versions or versionName == self.current_version:
            return False
        del self.versions[versionName]
        return True

    def GetVersionNameList(self, versionType):
        return list(self.versions) if versionType == 0 else []

    def GetCurrentVersion(self):
        return {"versionName": self.current_version, "versionType": 0}

    def GetNodeGraph(self, layerIdx=None):
        return Graph(self.project, self.versions[self.current_version])

    def SetCDL(self, cdlMap):
        keys = ("NodeIndex", "Slope", "Offset", "Power", "Saturation")
        if not isinstance(cdlMap, dict) or set(cdlMap) != set(keys) or \
                not all(isinstance(cdlMap[k], str) for k in keys):
            return False
        try:
            node = int(cdlMap["NodeIndex"])
            triples = [[float(v) for v in cdlMap[k].split()] for k in ("Slope", "Offset", "Power")]
            float(cdlMap["Saturation"])
        except ValueError:
            return False
        nodes = self.versions[self.current_version]
        if not 1 <= node <= len(nodes) or any(len(t) != 3 for t in triples):
            return False
        nodes[node - 1]["cdl"] = {k: cdlMap[k] for k in keys[1:]}
        return True

    def AddMarker(self, frameId, color, name, note, duration, customData=None):
        if float(frameId) in self.markers or not 0 <= frameId < self.duration or color not in MARKER_COLOURS:
            return False
        self.markers[float(frameId)] = {"color": color, "duration": float(duration), "note": note, "name": name,
                                        "customData": customData or ""}
        return True

    def GetMarkers(self):
        return {frame: dict(marker) for frame, marker in self.markers.items()}

    def DeleteMarkerAtFrame(self, frameNum):
        return self.markers.pop(float(frameNum), None) is not None


MARKER_COLOURS = {"Blue", "Cyan", "Green", "Yellow", "Red", "Pink", "Purple", "Fuchsia", "Rose", "Lavender", "Sky",
                  "Mint", "Lemon", "Sand", "Cocoa", "Cream"}
