"""colorgrade for DaVinci Resolve: an editable CDL (or a LUT) per timeline clip, from the colorgrade daemon.

Workspace > Scripts > Color > colorgrade_resolve runs it on the current timeline. For each video item,
its source file and source frame range go to ``colorgrade analyze --items`` (one call for the whole
timeline); then a colour version "colorgrade" is added to the item, so the colourist's own grade stays
in its version, the CDL is set on a node of it, and a marker carries the diagnosis and confidence.
Items it cannot grade (generators, compound clips, offline media, retimed clips, a node past the
graph) are listed with the reason and left exactly as they were; nothing raises into Resolve. With
``reference: "playhead"`` every clip is matched to the graded still under the playhead (grabbed on the
Color page, exported, then deleted from the gallery; the user's page is given back), and the hero clip
itself is left as it is; with ``continuity: true`` the timeline's clips are grouped into scenes, each
scene's hero corrected blind and the other clips matched to it.

Standard library only, Python >= 3.6: Resolve runs scripts in the user's own Python, where grpcio may
not exist; the ``colorgrade`` command runs in its own environment. Settings come from
``~/.config/colorgrade/resolve.json`` (written by ``colorgrade install resolve``) and, run from a shell
with Resolve Studio's external scripting, from arguments (``--help``).
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# The command that runs colorgrade; `colorgrade install resolve` writes its own absolute one here.
COLORGRADE = ["colorgrade"]
SETTINGS_FILE = os.path.join(os.path.expanduser("~"), ".config", "colorgrade", "resolve.json")
MARKER_DATA = "colorgrade"   # the custom data that tells colorgrade's markers from the user's
DEFAULTS = {"server": None, "tls_ca": None, "token_file": None, "node": 1, "version": "colorgrade",
            "tracks": None, "current_only": False, "lut": False, "lut_folder": None, "export": None,
            "samples": 24, "marker_color": "Cream", "reference": None, "continuity": False, "colorspace": None}
# Resolve's colour science (Project.GetSetting("colorScienceMode")) in which a node's CDL acts in ACEScct:
# colorgrade's own grading space, so its CDL can be computed where Resolve applies it.
ACESCCT_SCIENCE = "acescct"


# What the summary says when Resolve does not list a staged LUT: the one setting that mends it.
LUT_FOLDER_HINT = ("add %s under Preferences > System > General > LUT Locations, or set \"lut_folder\" in "
                   + SETTINGS_FILE + " to a folder Resolve lists")


def user_lut_folder():
    """Resolve's per-user LUT folder on this OS: the master folder needs administrator rights to write."""
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "Blackmagic Design", "DaVinci Resolve", "LUT")
    if sys.platform.startswith("win"):
        return os.path.join(os.environ.get("APPDATA", os.path.join(home, "AppData", "Roaming")), "Blackmagic Design",
                            "DaVinci Resolve", "Support", "LUT")
    return os.path.join(home, ".local", "share", "DaVinciResolve", "LUT")


def safe_name(text):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def unique_id(thing):
    """Resolve's unique id of a timeline or a timeline item, or None from a Resolve without GetUniqueId."""
    get = getattr(thing, "GetUniqueId", None)
    found = get() if callable(get) else None
    return str(found) if found else None


def identity(item):
    """What tells one timeline item from another. The scripting bridge may hand out a new wrapper object on every
    call, so ``is`` and ``==`` say nothing: its unique id, or without one, its name and source frames."""
    return unique_id(item) or (item.GetName(), item.GetSourceStartFrame(), item.GetSourceEndFrame())


class Summary:
    """What happened to each item, printed in Resolve's console at the end."""

    def __init__(self):
        self.graded, self.skipped, self.notes = [], [], []

    def text(self):
        lines = ["colorgrade: %d item(s) graded, %d skipped" % (len(self.graded), len(self.skipped))]
        lines += ["  graded  %s: %s" % pair for pair in self.graded]
        lines += ["  skipped %s: %s" % pair for pair in self.skipped]
        lines += ["  note: " + note for note in self.notes]
        return "\n".join(lines)


class TimelineGrader:
    """Grades the current timeline of ``resolve`` (the object Resolve defines for scripts)."""

    def __init__(self, resolve, settings, run=subprocess.run):
        self.resolve, self.settings, self.run = resolve, settings, run
        self.lut_folder = os.path.join(settings["lut_folder"] or user_lut_folder(), "colorgrade")
        self.summary = Summary()

    def grade(self):
        project = self.resolve.GetProjectManager().GetCurrentProject()
        timeline = project.GetCurrentTimeline() if project else None
        if not timeline:
            self.summary.notes.append("no timeline is open")
            return self.summary
        self.colorspace = self.colour_space(project)
        jobs = self.collect(timeline)
        if not jobs:
            return self.summary
        if self.settings["reference"] and self.settings["continuity"]:
            self.summary.notes.append("give a reference or continuity, not both")
            return self.summary
        self.scratch = tempfile.mkdtemp(prefix="colorgrade-resolve-")
        try:
            if self.settings["reference"] and not self.take_reference(project, timeline, jobs):
                return self.summary
            return self.grade_jobs(project, timeline, jobs)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def colour_space(self, project):
        """The media's colour space to pass as ``--colorspace``, or None (display-referred values, as colorgrade
        judges a plain project): only on an ACEScct project with the media's space named ("colorspace"), where
        Resolve applies a node's CDL in ACEScct, colorgrade's grading space. Every other colour-managed
        combination is named in the summary, not guessed."""
        science = str(project.GetSetting("colorScienceMode") or "")
        timeline_space = str(project.GetSetting("colorSpaceTimeline") or "")
        named = self.settings["colorspace"]
        if science == ACESCCT_SCIENCE and named and not (self.settings["reference"] or self.settings["continuity"]):
            self.summary.notes.append("ACEScct project: the CDLs are computed in ACEScct, where Resolve applies "
                                      "them, from %s media" % named)
            return named
        if science == ACESCCT_SCIENCE:
            why = ("a reference or continuity matches display pictures, so the media's colour space was not used"
                   if named else 'name the media\'s colour space ("colorspace", e.g. "ARRI LogC3 (EI800)") to '
                   "compute them there")
            self.summary.notes.append("ACEScct project: Resolve applies a node's CDL in ACEScct, while colorgrade "
                                      "judged the files' display-referred values; " + why)
        elif "managed" in science.lower() or "aces" in science.lower():
            self.summary.notes.append("the project is colour managed (%s, timeline %s): Resolve applies a node's CDL "
                                      "in the timeline colour space, while colorgrade judged the files' "
                                      "display-referred values; colorgrade computes CDLs in ACEScct projects only"
                                      % (science, timeline_space or "unnamed"))
        return None

    def take_reference(self, project, timeline, jobs):
        """``reference``: "playhead" grabs the graded still under the playhead (that clip is the hero, left as it
        is), or a still's path. Sets ``self.reference`` (a file) -> False when there is none to use."""
        if self.settings["reference"] != "playhead":
            self.reference = self.settings["reference"]
            if os.path.exists(self.reference):
                return True
            self.summary.notes.append("the reference %s does not exist" % self.reference)
            return False
        hero = timeline.GetCurrentVideoItem()
        if not hero:
            self.summary.notes.append("no clip under the playhead to take the hero still from")
            return False
        reason, _ = self.media_of(hero)
        if reason:
            self.summary.notes.append("%s, under the playhead, cannot be the hero: %s" % (hero.GetName(), reason))
            return False
        heroes = [item_id for item_id, (item, _) in jobs.items() if identity(item) == identity(hero)]
        if len(heroes) == len(jobs):
            self.summary.skipped.append((hero.GetName(), "the hero itself: with current_only there is no other clip "
                                         "to match to it" if self.settings["current_only"] else
                                         "the hero itself: there is no other clip to match to it"))
            return False
        self.reference = self.grab_still(project, timeline, hero.GetName())
        if not self.reference:
            return False
        for item_id in heroes:
            self.summary.skipped.append((jobs.pop(item_id)[0].GetName(), "the hero: every other clip is matched to it"))
        return True

    def grab_still(self, project, timeline, name):
        """The graded still of ``name``, the clip under the playhead, exported to the scratch folder -> its path, or
        None once the summary says why. Resolve grabs stills on the Color page only (on the Edit page, where it
        opens a project, GrabStill returns None): the script opens it, then goes back to the user's page."""
        page = self.resolve.GetCurrentPage()
        if page != "color" and not self.resolve.OpenPage("color"):
            self.summary.notes.append("Resolve would not open the Color page to grab the hero still of %s" % name)
            return None
        try:
            still = timeline.GrabStill()
            if not still:
                self.summary.notes.append("Resolve could not grab a still of %s, the clip under the playhead" % name)
                return None
            album = project.GetGallery().GetCurrentStillAlbum()
            exported = album.ExportStills([still], self.scratch, "colorgrade_hero", "png")
            album.DeleteStills([still])   # the gallery is left as the colourist had it
        finally:
            if page and page != "color":
                self.resolve.OpenPage(page)
        found = [name for name in os.listdir(self.scratch) if name.startswith("colorgrade_hero")
                 and name.lower().endswith(".png")]
        if not exported or not found:
            self.summary.notes.append("Resolve could not export the still of %s, the clip under the playhead" % name)
            return None
        return os.path.join(self.scratch, found[0])

    def grade_jobs(self, project, timeline, jobs):
        if not jobs:
            return self.summary
        corrections = self.analyse(jobs)
        if corrections is None:
            return self.summary
        names = {item_id: item.GetName() for item_id, (item, _) in jobs.items()}
        for correction in corrections.values():
            # The corrections know a continuity hero by the id the script gave its item, which means nothing in
            # Resolve: the summary and the markers name its clip.
            if correction.get("hero") in names and correction["hero"] != correction.get("id"):
                correction["description"] += "; hero: " + names[correction["hero"]]
        if self.settings["export"]:
            self.summary.notes.append("dry run: wrote %s, the timeline is untouched" % self.settings["export"])
            for item_id, (item, _) in jobs.items():
                self.summary.graded.append((item.GetName(), corrections[item_id]["description"]))
            return self.summary
        luts = {}
        if self.settings["lut"]:
            luts = self.stage_luts(timeline, jobs)
            if not project.RefreshLUTList():
                self.summary.notes.append("Resolve could not refresh its LUT list")
        for item_id, (item, _) in jobs.items():
            self.apply(item, corrections[item_id], luts.get(item_id))
        return self.summary

    def stage_luts(self, timeline, jobs):
        """Copy each item's .cube into the LUT folder -> {item id: staged path}. A file is named by its timeline,
        its item and its content, so grading another timeline (or re-grading this one) never rewrites a LUT
        a node already uses."""
        tag = unique_id(timeline)   # none from an older Resolve: the timeline's name alone names its folder
        folder = os.path.join(self.lut_folder, safe_name(timeline.GetName())[:40] + ("_" + safe_name(tag)[:8]
                                                                                     if tag else ""))
        staged = {}
        for item_id, (item, _) in jobs.items():
            cube = os.path.join(self.scratch, item_id + ".cube")
            with open(cube, "rb") as handle:
                digest = hashlib.sha1(handle.read()).hexdigest()[:10]
            path = os.path.join(folder, "%s_%s_%s.cube" % (safe_name(item.GetName())[:40],
                                                            safe_name(unique_id(item) or item_id)[:8], digest))
            try:
                if not os.path.exists(path):   # same name, same content: the file there already is this LUT
                    os.makedirs(folder, exist_ok=True)
                    shutil.copyfile(cube, path + ".partial")
                    os.replace(path + ".partial", path)
            except OSError as error:
                self.summary.notes.append("cannot write LUTs to %s (%s): %s" % (folder, error.strerror,
                                                                               LUT_FOLDER_HINT % self.lut_folder))
                return {}
            staged[item_id] = path
        return staged

    def collect(self, timeline):
        """-> {item id: (item, job for --items)} for every gradable video item; the rest go to the summary."""
        if self.settings["current_only"]:
            current = timeline.GetCurrentVideoItem()
            candidates = [(1, 1, current)] if current else []
            if not candidates:
                self.summary.notes.append("no clip under the playhead")
        else:
            tracks = self.settings["tracks"] or list(range(1, int(timeline.GetTrackCount("video") or 0) + 1))
            candidates = [(track, position, item) for track in tracks
                          for position, item in enumerate(timeline.GetItemListInTrack("video", track) or [], 1)]
            if not candidates:
                self.summary.notes.append("no items on video track(s) %s" % ", ".join(map(str, tracks))
                                          if self.settings["tracks"] else "the timeline has no video items")
        jobs = {}
        for track, position, item in candidates:
            name = item.GetName()
            reason, job = self.job_of(item)
            if reason:
                self.summary.skipped.append((name, reason))
                continue
            item_id = ("V%d_%03d_%s" % (track, position, safe_name(name)))[:64]
            job["id"] = item_id
            jobs[item_id] = (item, job)
        return jobs

    @staticmethod
    def media_of(item):
        """-> (why the item shows no media of its own, None) or (None, its media pool item): generators, titles
        and effects have none, and offline media shows Resolve's placeholder."""
        pool_item = item.GetMediaPoolItem()
        if not pool_item:
            return "a generator, title or effect: no media to analyse", None
        path = pool_item.GetClipProperty("File Path")
        if path and not os.path.exists(path):
            return "media offline: %s" % path, None
        return None, pool_item

    def job_of(self, item):
        """-> (reason to skip, None) or (None, {"path", "first", "last"})."""
        reason, pool_item = self.media_of(item)
        if reason:
            return reason, None
        kind = str(pool_item.GetClipProperty("Type") or "")
        if kind.lower() in ("compound", "timeline", "fusion composition", "multicam"):
            return "a %s clip: grade the clips inside it" % kind.lower(), None
        path = pool_item.GetClipProperty("File Path")
        if not path:
            return "no file path (%s)" % (kind or "unknown type"), None
        # Source frames count from the media's start timecode ("Start"), not from the file's first frame.
        origin = str(pool_item.GetClipProperty("Start") or "0")
        origin = int(origin) if origin.isdigit() else 0
        first, end, duration = item.GetSourceStartFrame(), item.GetSourceEndFrame(), item.GetDuration(False)
        # Whether the end frame is the last one or the one after it, a clip at its own speed spans its
        # duration within a frame; anything else is a speed change.
        if abs((end - first) - duration) > 1:
            return "retimed (%d source frames on %d timeline frames): not analysed" % (end - first, duration), None
        return None, {"path": path, "first": int(first) - origin, "last": int(first) - origin + int(duration) - 1}

    def analyse(self, jobs):
        """One ``colorgrade analyze --items`` for the whole timeline -> {item id: correction} or None. The
        items file and, with ``lut``, the .cube files go to ``self.scratch`` (removed by ``grade``)."""
        items = os.path.join(self.scratch, "items.json")
        with open(items, "w") as handle:
            json.dump([job for _, job in jobs.values()], handle)
        command = COLORGRADE + ["analyze", "--items", items, "--json", "--samples", str(self.settings["samples"])]
        for option in ("server", "tls_ca", "token_file"):
            if self.settings[option]:
                command += ["--" + option.replace("_", "-"), str(self.settings[option])]
        if self.settings["export"]:
            command += ["--cdl", self.settings["export"]]
        if self.settings["lut"]:
            command += ["--cubes", self.scratch]
        if self.settings["reference"]:
            command += ["--reference", self.reference]
        elif self.settings["continuity"]:
            command += ["--continuity"]
        if self.colorspace:
            command += ["--colorspace", self.colorspace]
        try:
            done = self.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        except OSError as error:
            self.summary.notes.append("cannot run %s: %s (run `colorgrade install resolve`)" % (COLORGRADE[0], error))
            return None
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            self.summary.notes.append("colorgrade analyze failed: " + (lines[-1] if lines else "no message"))
            return None
        return json.loads(done.stdout)

    def apply(self, item, correction, lut=None):
        """Put the correction on the item's own version; an item that cannot take it is left exactly as it was
        (the version it showed, no new version, no marker)."""
        name = item.GetName()
        if self.settings["lut"] and lut is None:
            self.summary.skipped.append((name, "its LUT could not be staged"))
            return
        before = item.GetCurrentVersion()["versionName"]
        version = self.settings["version"]
        added = version not in (item.GetVersionNameList(0) or [])
        if added and not item.AddVersion(version, 0):
            self.summary.skipped.append((name, "Resolve refused to add the version %r" % version))
            return
        reason = self.set_on_version(item, correction, lut)
        if reason:
            item.LoadVersionByName(before, 0)
            if added:
                item.DeleteVersionByName(version, 0)
            self.summary.skipped.append((name, reason))
            return
        self.mark(item, correction)
        self.summary.graded.append((name, correction["description"]))

    def set_on_version(self, item, correction, lut):
        """Load colorgrade's version and set the CDL (or LUT) on its node -> None, or why it could not."""
        node, version = int(self.settings["node"]), self.settings["version"]
        if not item.LoadVersionByName(version, 0):
            return "Resolve could not load the version %r" % version
        graph = item.GetNodeGraph()
        nodes = graph.GetNumNodes() if graph else 0
        if not 1 <= node <= nodes:
            return "node %d is past the graph's %d node(s)" % (node, nodes)
        if self.settings["lut"]:
            if graph.SetLUT(node, lut):
                return None
            return "Resolve did not take the LUT %s: %s" % (lut, LUT_FOLDER_HINT % self.lut_folder)
        cdl = correction["cdl"]
        if item.SetCDL({"NodeIndex": str(node), "Slope": triple(cdl["slope"]), "Offset": triple(cdl["offset"]),
                        "Power": triple(cdl["power"]), "Saturation": "%.6f" % cdl["saturation"]}):
            return None
        return "Resolve refused the CDL on node %d" % node

    def mark(self, item, correction):
        """One marker with the diagnosis: colorgrade's earlier ones (its custom data) replaced, the user's kept."""
        for frame, marker in (item.GetMarkers() or {}).items():
            if marker.get("customData") == MARKER_DATA:
                item.DeleteMarkerAtFrame(frame)
        if not item.AddMarker(0, self.settings["marker_color"], "colorgrade", correction["description"], 1,
                              MARKER_DATA):
            self.summary.notes.append("%s: graded, but Resolve refused the marker (one of yours at its first frame?)"
                                      % item.GetName())


def triple(values):
    return " ".join("%.6f" % value for value in values)


def load_settings(argv=()):
    """Defaults, then the settings file, then the arguments ``argv`` (never sys.argv: in a menu run it is Resolve's)."""
    settings = dict(DEFAULTS)
    if os.path.exists(SETTINGS_FILE):
        with open(SETTINGS_FILE) as handle:
            settings.update({k: v for k, v in json.load(handle).items() if k in DEFAULTS})
    parser = argparse.ArgumentParser(description="Grade the current Resolve timeline with colorgrade.")
    parser.add_argument("--server", help="daemon address (default: a private local daemon)")
    parser.add_argument("--tls-ca", dest="tls_ca")
    parser.add_argument("--token-file", dest="token_file")
    parser.add_argument("--node", type=int, help="node (1-based) the CDL or LUT goes on (default 1)")
    parser.add_argument("--tracks", type=int, nargs="+", help="video tracks to grade (default: all)")
    parser.add_argument("--current-only", dest="current_only", action="store_true", default=None,
                        help="only the clip under the playhead")
    parser.add_argument("--lut", action="store_true", default=None, help="a .cube on the node instead of a CDL")
    parser.add_argument("--export", metavar="FILE.ccc", help="dry run: write the corrections, touch nothing")
    parser.add_argument("--samples", type=int, help="frames analysed per item (default 24)")
    parser.add_argument("--continuity", action="store_true", default=None,
                        help="one click: group the timeline's clips into scenes, correct each scene's hero blind and "
                             "match the other clips to it")
    parser.add_argument("--colorspace", metavar="NAME",
                        help="on an ACEScct project: the media's colour space (an OCIO name, e.g. \"ARRI LogC3 "
                             "(EI800)\"), so the CDLs are computed in ACEScct, where Resolve applies them")
    parser.add_argument("--reference", metavar="playhead|STILL",
                        help="match every clip to a graded hero: the still at the playhead (that clip is left as it "
                             "is) or a still's file")
    arguments = parser.parse_args(argv)
    settings.update({k: v for k, v in vars(arguments).items() if v is not None})
    return settings


def main(resolve, argv=()):
    summary = TimelineGrader(resolve, load_settings(argv)).grade()
    print(summary.text())
    return summary


if __name__ == "__main__":
    # Inside Resolve's Scripts menu `resolve` is already defined and sys.argv is Resolve's own: parsed, any of its
    # arguments would raise SystemExit into Resolve. From a shell (Studio) `resolve` is fetched and the
    # arguments are ours.
    if "resolve" in globals():
        main(resolve)
    else:
        try:
            import DaVinciResolveScript
        except ImportError:
            sys.exit("colorgrade: run this from Resolve's Workspace > Scripts menu, or set up external "
                     "scripting (Resolve Studio) so DaVinciResolveScript imports")
        main(DaVinciResolveScript.scriptapp("Resolve"), sys.argv[1:])
