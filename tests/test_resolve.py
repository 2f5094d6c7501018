"""The Resolve script against a faithful fake of Resolve's object model, a real daemon and real media."""
import json
import os
import runpy
import sys

import numpy as np
import PyOpenColorIO as OCIO
import pytest

from colorgrade.clients.media import numbered_frames
from colorgrade.clients.resolve import colorgrade_resolve as script
from colorgrade.color import CDL, apply, read_cdl, to_float_rgb
from fakes import resolve_api as fake
from host_stubs import mismatches, stub_signatures
from media_fixtures import SHOTS


@pytest.fixture(autouse=True)
def colorgrade_command(monkeypatch, tmp_path):
    # What `colorgrade install resolve` writes into the installed copy; no settings file of the user's.
    monkeypatch.setattr(script, "COLORGRADE", [sys.executable, "-m", "colorgrade"])
    monkeypatch.setattr(script, "SETTINGS_FILE", str(tmp_path / "no-settings.json"))


def timeline(footage, lut_folder, items=None):
    project = fake.Project(None, str(lut_folder))
    clip = fake.MediaPoolItem(str(footage))
    warm = fake.TimelineItem(project, "warm pan", clip, *SHOTS[0])
    # The same file imported with a start timecode of 01:00:00:00 (24 fps): source frames count from 86400.
    cool = fake.TimelineItem(project, "cool tilt", fake.MediaPoolItem(str(footage), start=86400), *SHOTS[1])
    others = [fake.TimelineItem(project, "Solid Color", None, 0, 47),
              fake.TimelineItem(project, "Compound Clip 1", fake.MediaPoolItem("", "Compound"), 0, 99),
              fake.TimelineItem(project, "lost.mov", fake.MediaPoolItem(str(lut_folder / "lost.mov")), 0, 9),
              fake.TimelineItem(project, "slow motion", clip, 0, 37, duration=19)]
    project.timeline = fake.Timeline("edit v3", [[warm, cool], others])
    return fake.Resolve(project), project, warm, cool


def settings(server, **overrides):
    return {**script.DEFAULTS, "server": server, **overrides}


def test_the_fake_matches_resolves_published_stubs():
    stubs = stub_signatures("fusionscript-stubs", "fusionscript")
    assert mismatches([fake.Resolve, fake.ProjectManager, fake.Project, fake.Timeline, fake.MediaPoolItem,
                       fake.Graph, fake.TimelineItem], stubs) == []

    class TimelineItem:   # the check itself can fail: a misnamed argument is caught
        def SetCDL(self, cdl):
            return True
    assert mismatches([TimelineItem], stubs) == ["TimelineItem.SetCDL('cdl',): stubs say ('cdlMap',)"]


def test_each_clip_gets_its_cdl_on_a_version_of_its_own(daemon_address, two_shot_clip, tmp_path):
    resolve, project, warm, cool = timeline(two_shot_clip, tmp_path)
    summary = script.TimelineGrader(resolve, settings(daemon_address)).grade()
    assert [name for name, _ in summary.graded] == ["warm pan", "cool tilt"]
    reasons = dict(summary.skipped)
    assert "generator" in reasons["Solid Color"] and "compound clip" in reasons["Compound Clip 1"]
    assert "media offline" in reasons["lost.mov"] and "retimed" in reasons["slow motion"]
    frame = next(f for n, f in numbered_frames(two_shot_clip, 5, 5))
    ratios = []
    for item in (warm, cool):
        assert item.GetCurrentVersion()["versionName"] == "colorgrade"
        assert item.versions["Version 1"][0]["cdl"]["Slope"] == "1.1 1 0.9"   # the colourist's grade untouched
        values = item.versions["colorgrade"][0]["cdl"]
        cdl = CDL(*(tuple(float(v) for v in values[k].split()) for k in ("Slope", "Offset", "Power")),
                  float(values["Saturation"]))
        ratios.append(cdl.slope[0] / cdl.slope[2])
        marker, = item.GetMarkers().values()
        assert marker["name"] == "colorgrade" and "confidence 0." in marker["note"]
        # What Resolve was given, read by OpenColorIO (the oracle), is what colorgrade.color applies.
        transform = OCIO.CDLTransform()
        transform.setSlope([float(v) for v in values["Slope"].split()])
        transform.setOffset([float(v) for v in values["Offset"].split()])
        transform.setPower([float(v) for v in values["Power"].split()])
        transform.setSat(float(values["Saturation"]))
        transform.setStyle(OCIO.CDL_ASC)
        rgb = np.ascontiguousarray(to_float_rgb(frame)[0])
        expected = rgb.copy()
        OCIO.Config.CreateRaw().getProcessor(transform).getDefaultCPUProcessor().applyRGB(expected)
        np.testing.assert_allclose(apply(cdl, rgb), expected, atol=2e-5)
    assert ratios[0] < ratios[1]   # the warm shot's correction pulls red down against blue, the cool one's up


def test_a_node_past_the_graph_is_skipped_and_the_item_left_exactly_as_it_was(daemon_address, two_shot_clip,
                                                                               tmp_path):
    resolve, _, warm, cool = timeline(two_shot_clip, tmp_path)
    cool.versions["colorgrade"] = [{"cdl": None, "lut": None}]      # a version of that name from an earlier run
    before = [(dict(item.versions), item.current_version, item.GetMarkers()) for item in (warm, cool)]
    summary = script.TimelineGrader(resolve, settings(daemon_address, node=3, tracks=[1])).grade()
    assert summary.graded == [] and dict(summary.skipped)["warm pan"] == "node 3 is past the graph's 1 node(s)"
    assert [(dict(item.versions), item.current_version, item.GetMarkers()) for item in (warm, cool)] == before


def test_a_second_run_replaces_its_own_marker_and_keeps_the_users(daemon_address, two_shot_clip, tmp_path):
    resolve, _, warm, _ = timeline(two_shot_clip, tmp_path)
    warm.AddMarker(5, "Red", "reshoot?", "the director's note", 1, "")
    for _ in range(2):
        summary = script.TimelineGrader(resolve, settings(daemon_address, tracks=[1])).grade()
        assert len(summary.graded) == 2 and not summary.notes
    markers = warm.GetMarkers()
    assert sorted(markers) == [0.0, 5.0] and markers[5.0]["note"] == "the director's note"
    assert markers[0.0]["customData"] == "colorgrade" and "confidence 0." in markers[0.0]["note"]


def test_luts_are_staged_listed_and_set(daemon_address, two_shot_clip, tmp_path):
    resolve, project, warm, cool = timeline(two_shot_clip, tmp_path)
    summary = script.TimelineGrader(resolve, settings(daemon_address, lut=True, lut_folder=str(tmp_path),
                                                      tracks=[1])).grade()
    assert len(summary.graded) == 2 and project.refreshes == 1
    staged = warm.versions["colorgrade"][0]["lut"]
    assert staged.startswith(str(tmp_path / "colorgrade")) and staged.endswith(".cube")


def test_grading_a_second_timeline_never_rewrites_the_first_ones_luts(daemon_address, two_shot_clip, tmp_path):
    """Two timelines whose first items share a track position and a name but not their frames."""
    first, project, warm, _ = timeline(two_shot_clip, tmp_path)
    chosen = settings(daemon_address, lut=True, lut_folder=str(tmp_path), tracks=[1])
    script.TimelineGrader(first, chosen).grade()
    lut = warm.versions["colorgrade"][0]["lut"]
    graded_look = open(lut).read()
    other = fake.TimelineItem(project, "warm pan", fake.MediaPoolItem(str(two_shot_clip)), *SHOTS[1])
    project.timeline = fake.Timeline("edit v4", [[other]])
    summary = script.TimelineGrader(fake.Resolve(project), chosen).grade()
    assert [name for name, _ in summary.graded] == ["warm pan"]
    assert other.versions["colorgrade"][0]["lut"] != lut and open(lut).read() == graded_look


def test_luts_go_to_the_users_own_folder_and_a_refused_one_says_which_folder_to_set(
        daemon_address, two_shot_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("APPDATA", str(tmp_path / "home" / "AppData" / "Roaming"))
    for platform in ("linux", "darwin", "win32"):
        monkeypatch.setattr(script.sys, "platform", platform)
        assert script.user_lut_folder().startswith(str(tmp_path / "home"))
    monkeypatch.setattr(script.sys, "platform", "linux")
    # Resolve lists LUTs from its master folder only: the user folder's LUT is written but not listed.
    (tmp_path / "master").mkdir()
    resolve, project, warm, cool = timeline(two_shot_clip, tmp_path / "master")
    before = dict(warm.versions)
    summary = script.TimelineGrader(resolve, settings(daemon_address, lut=True, tracks=[1])).grade()
    assert summary.graded == [] and dict(warm.versions) == before and warm.current_version == "Version 1"
    reason = dict(summary.skipped)["warm pan"]
    folder = str(tmp_path / "home" / ".local" / "share" / "DaVinciResolve" / "LUT" / "colorgrade")
    assert reason.startswith("Resolve did not take the LUT " + folder) and "LUT Locations" in reason


def test_a_dry_run_exports_the_corrections_and_touches_nothing(daemon_address, two_shot_clip, tmp_path):
    resolve, _, warm, cool = timeline(two_shot_clip, tmp_path)
    export = tmp_path / "edit.ccc"
    summary = script.TimelineGrader(resolve, settings(daemon_address, export=str(export))).grade()
    assert set(read_cdl(export)) == {"V1_001_warm_pan", "V1_002_cool_tilt"} and len(summary.graded) == 2
    assert list(warm.versions) == ["Version 1"] and not warm.GetMarkers()


def test_a_colour_managed_project_is_named_in_the_summary(daemon_address, two_shot_clip, tmp_path):
    resolve, project, _, _ = timeline(two_shot_clip, tmp_path)
    project.settings.update(colorScienceMode="davinciYRGBColorManagedv2", colorSpaceTimeline="DaVinci WG/Intermediate")
    summary = script.TimelineGrader(resolve, settings(daemon_address, tracks=[1], export=str(tmp_path / "x.ccc"))).grade()
    assert any("colour managed (davinciYRGBColorManagedv2, timeline DaVinci WG/Intermediate)" in note
               and "ACEScct projects only" in note for note in summary.notes)
    project.settings["colorScienceMode"] = "acescct"
    summary = script.TimelineGrader(resolve, settings(daemon_address, tracks=[1], export=str(tmp_path / "x.ccc"))).grade()
    assert any("name the media's colour space" in note for note in summary.notes)


def test_an_acescct_project_gets_its_cdls_computed_in_acescct(daemon_address, two_shot_clip, tmp_path):
    """The media's colour space named on an ACEScct project: analyze is told it, and the CDLs it writes are in
    ACEScct (the .ccc says so), where Resolve applies a node's CDL."""
    resolve, project, _, _ = timeline(two_shot_clip, tmp_path)
    project.settings["colorScienceMode"] = "acescct"
    export = tmp_path / "edit.ccc"
    summary = script.TimelineGrader(resolve, settings(daemon_address, tracks=[1], export=str(export),
                                                      colorspace="ARRI LogC3 (EI800)")).grade()
    assert any("computed in ACEScct, where Resolve applies them, from ARRI LogC3 (EI800) media" in note
               for note in summary.notes)
    assert len(summary.graded) == 2 and export.read_text().count("in ACEScct (input ARRI LogC3 (EI800))") == 2


def test_only_the_current_clip_when_asked_and_clear_failures(daemon_address, two_shot_clip, tmp_path):
    resolve, project, warm, cool = timeline(two_shot_clip, tmp_path)
    project.timeline.current = cool
    summary = script.TimelineGrader(resolve, settings(daemon_address, current_only=True)).grade()
    assert [name for name, _ in summary.graded] == ["cool tilt"] and list(warm.versions) == ["Version 1"]
    summary = script.TimelineGrader(resolve, settings("127.0.0.1:1", tracks=[1])).grade()
    assert summary.graded == [] and summary.notes[-1].startswith("colorgrade analyze failed: ")


def test_settings_come_from_the_file_then_the_arguments(tmp_path, monkeypatch):
    monkeypatch.setattr(script, "SETTINGS_FILE", str(tmp_path / "resolve.json"))
    (tmp_path / "resolve.json").write_text(json.dumps({"server": "gradebox:50051", "node": 2}))
    assert script.load_settings([])["server"] == "gradebox:50051"
    chosen = script.load_settings(["--node", "4", "--lut"])
    assert (chosen["node"], chosen["lut"], chosen["server"]) == (4, True, "gradebox:50051")


def test_every_clip_is_matched_to_the_graded_still_at_the_playhead(daemon_address, tmp_path, ffmpeg):
    from colorgrade.clients import media
    from colorgrade.models import metrics
    from media_fixtures import MONTAGE, make_montage

    reel = tmp_path / "montage.mp4"
    make_montage(ffmpeg, reel)
    project = fake.Project(None, str(tmp_path))
    warm, cool, other = (fake.TimelineItem(project, name, fake.MediaPoolItem(str(reel)), *shot)
                         for name, shot in zip(("dune warm", "dune cool", "ladybird"), MONTAGE))
    # The colourist graded the cool dune shot (the hero, under the playhead): the cool cast taken out.
    cool.versions["Version 1"][0]["cdl"] = {"Slope": "1.12 1 0.87", "Offset": "0 0 0", "Power": "1 1 1",
                                            "Saturation": "1"}
    project.timeline = fake.Timeline("scene 4", [[warm, cool, other]])
    project.timeline.current = cool
    resolve = fake.Resolve(project)   # on the Edit page, where Resolve opens a project
    summary = script.TimelineGrader(resolve, settings(daemon_address, reference="playhead")).grade()
    assert resolve.pages_opened == ["color", "edit"]          # the still grabbed on the Color page, the page given back
    # The hero is known by its unique id: the bridge handed out another wrapper for it with every call.
    assert [name for name, _ in summary.graded] == ["dune warm", "ladybird"]
    assert dict(summary.skipped)["dune cool"].startswith("the hero") and list(cool.versions) == ["Version 1"]
    assert project.gallery.GetCurrentStillAlbum().GetStills() == []          # the grabbed still is gone again
    values = warm.versions["colorgrade"][0]["cdl"]
    matched = CDL(*(tuple(float(v) for v in values[k].split()) for k in ("Slope", "Offset", "Power")),
                  float(values["Saturation"]))
    frames = [f for _, f in media.numbered_frames(reel)]
    hero_look = apply(CDL((1.12, 1, 0.87)), frames[MONTAGE[1][0] + 6])[:, :240] / 255
    before = metrics.ciede2000(frames[6][:, 60:300] / 255, hero_look).mean()
    after = metrics.ciede2000(apply(matched, frames[6])[:, 60:300] / 255, hero_look).mean()
    assert after < before / 2                        # the warm shot now looks like the graded hero
    assert "matched to the reference" in dict(summary.graded)["dune warm"]
    assert "another scene" in dict(summary.graded)["ladybird"]


def test_no_hero_still_is_told_apart_from_no_clip_and_the_users_page_is_given_back(two_shot_clip, tmp_path,
                                                                                   monkeypatch):
    resolve, project, warm, _ = timeline(two_shot_clip, tmp_path)
    solid, _, lost, _ = project.timeline.tracks[1]
    resolve.OpenPage("fusion")

    def notes():
        summary = script.TimelineGrader(resolve, settings("127.0.0.1:1", reference="playhead")).grade()
        assert summary.graded == [] and resolve.page == "fusion"
        return summary.notes

    assert notes() == ["no clip under the playhead to take the hero still from"]
    project.timeline.current = solid
    assert notes() == ["Solid Color, under the playhead, cannot be the hero: a generator, title or effect: no media "
                       "to analyse"]
    project.timeline.current = lost
    assert notes()[0].startswith("lost.mov, under the playhead, cannot be the hero: media offline: ")
    project.timeline.current = warm
    monkeypatch.setattr(fake.Timeline, "GrabStill", lambda self: None)   # Resolve grabbed nothing, on the Color page
    assert notes() == ["Resolve could not grab a still of warm pan, the clip under the playhead"]
    assert resolve.pages_opened[-2:] == ["color", "fusion"]


def test_a_resolve_without_unique_ids_names_luts_by_the_timeline_and_the_items_place(daemon_address, two_shot_clip,
                                                                                     tmp_path, monkeypatch):
    monkeypatch.delattr(fake.Timeline, "GetUniqueId")
    monkeypatch.delattr(fake.TimelineItem, "GetUniqueId")
    resolve, _, warm, cool = timeline(two_shot_clip, tmp_path)
    summary = script.TimelineGrader(resolve, settings(daemon_address, lut=True, lut_folder=str(tmp_path),
                                                      tracks=[1])).grade()
    assert len(summary.graded) == 2
    luts = [item.versions["colorgrade"][0]["lut"] for item in (warm, cool)]
    assert [os.path.basename(os.path.dirname(lut)) for lut in luts] == ["edit_v3", "edit_v3"]
    assert [os.path.basename(lut)[:-16] for lut in luts] == ["warm_pan_V1_001_w", "cool_tilt_V1_002_c"]


def test_a_menu_run_leaves_the_hosts_own_arguments_alone(tmp_path, monkeypatch, capsys):
    """Resolve's Scripts menu runs the file with ``resolve`` defined and Resolve's own sys.argv."""
    monkeypatch.setattr(sys, "argv", ["/opt/resolve/bin/resolve", "-nosplash", "--restore"])
    monkeypatch.setenv("HOME", str(tmp_path))                 # no settings file of the user's
    resolve = fake.Resolve(fake.Project(None, str(tmp_path)))
    runpy.run_path(script.__file__, init_globals={"resolve": resolve}, run_name="__main__")
    assert "note: no timeline is open" in capsys.readouterr().out


def test_the_summary_says_why_nothing_was_graded(two_shot_clip, tmp_path):
    resolve, project, warm, cool = timeline(two_shot_clip, tmp_path)
    chosen = settings("127.0.0.1:1")
    project.timeline = fake.Timeline("empty", [[], []])
    assert script.TimelineGrader(resolve, chosen).grade().notes == ["the timeline has no video items"]
    project.timeline = fake.Timeline("edit v3", [[warm, cool], []])
    summary = script.TimelineGrader(resolve, {**chosen, "tracks": [2]}).grade()
    assert summary.notes == ["no items on video track(s) 2"]
    summary = script.TimelineGrader(resolve, {**chosen, "current_only": True}).grade()
    assert summary.notes == ["no clip under the playhead"]
    # The only clip current_only grades is the hero itself: nothing is matched to it, and the summary says so.
    project.timeline.current = cool
    summary = script.TimelineGrader(resolve, {**chosen, "current_only": True, "reference": "playhead"}).grade()
    assert summary.graded == [] and list(cool.versions) == ["Version 1"]
    assert summary.skipped == [("cool tilt", "the hero itself: with current_only there is no other clip to match "
                                             "to it")]


def test_continuity_groups_the_timeline_into_scenes_and_matches_each_to_its_hero(daemon_address, tmp_path, ffmpeg):
    from media_fixtures import MONTAGE, make_montage

    reel = tmp_path / "montage.mp4"
    make_montage(ffmpeg, reel)
    project = fake.Project(None, str(tmp_path))
    # Two takes of the warm dune shot agree, so one is the scene's hero (two shots that disagree have none).
    items = [fake.TimelineItem(project, name, fake.MediaPoolItem(str(reel)), *shot)
             for name, shot in zip(("dune warm", "dune warm again", "ladybird"), (MONTAGE[0], MONTAGE[0], MONTAGE[2]))]
    project.timeline = fake.Timeline("scene 4", [items])
    summary = script.TimelineGrader(fake.Resolve(project), settings(daemon_address, continuity=True)).grade()
    graded = dict(summary.graded)
    assert list(graded) == ["dune warm", "dune warm again", "ladybird"]
    dune = [graded["dune warm"], graded["dune warm again"]]
    assert sum(": the hero of scene 1," in text for text in dune) == 1
    assert sum("matched to the hero of scene 1 with confidence" in text for text in dune) == 1
    assert "the hero of scene 2" in graded["ladybird"]
    marker, = items[2].GetMarkers().values()
    assert "hero of scene 2" in marker["note"]
    # The matched clip names its hero as the colourist knows it, by its clip name.
    hero, = [item for item, text in zip(items, dune) if ": the hero of scene 1," in text]
    matched, = [item for item in items[:2] if item is not hero]
    assert graded[matched.name].endswith("; hero: " + hero.name) and "V1_00" not in graded[matched.name]
    marker, = matched.GetMarkers().values()
    assert marker["note"] == graded[matched.name]
