"""The Nuke node against a faithful fake of the ``nuke`` module, a real daemon and real media."""
import importlib
import re
import sys

import numpy as np
import pytest

from colorgrade.clients.media import numbered_frames
from colorgrade.color import CDL, apply, read_cube
from conftest import REPO
from fakes import nuke as fake_nuke
from host_stubs import mismatches, stub_signatures


@pytest.fixture()
def nuke(monkeypatch, tmp_path):
    """The fake as ``nuke``, the plug-in folder on sys.path (what nuke.pluginAddPath does), a fresh script."""
    monkeypatch.setitem(sys.modules, "nuke", fake_nuke)
    monkeypatch.syspath_prepend(str(REPO / "clients" / "nuke"))
    fake_nuke._reset()
    module = importlib.import_module("colorgrade_nuke")
    monkeypatch.setattr(module, "COLORGRADE", [sys.executable, "-m", "colorgrade"])
    monkeypatch.setattr(module, "SETTINGS_FILE", str(tmp_path / "no-settings.json"))
    return fake_nuke, module


@pytest.fixture(scope="module")
def plates(tmp_path_factory, two_shot_clip):
    """The two-shot clip as 16-bit PNG plates numbered from 1001, as a compositor's Read would see them."""
    folder = tmp_path_factory.mktemp("plates")
    for number, frame in numbered_frames(two_shot_clip):
        from colorgrade.clients.media import write_image
        write_image(folder / f"plate.{1001 + number}.png", frame)
    return folder


def comp(nuke, plates, first, last, mode="auto"):
    fake, colorgrade_nuke = nuke
    read = fake.nodes.Read(file=str(plates / "plate.####.png"), colorspace="sRGB")
    group = colorgrade_nuke.create()
    group.setInput(0, read)
    group["first"].setValue(first)
    group["last"].setValue(last)
    group["mode"].setValue(mode)
    return group


def test_the_fake_matches_nukes_published_stubs():
    stubs = stub_signatures("nuke-stubs", "_nuke")
    classes = [fake_nuke.Knob, fake_nuke.String_Knob, fake_nuke.Enumeration_Knob, fake_nuke.Array_Knob,
               fake_nuke.Int_Knob, fake_nuke.Node, fake_nuke.Group]
    assert mismatches(classes, stubs) == []
    for function in ("root", "createNode", "delete", "frame", "message", "execute"):
        parameters = list(importlib.import_module("inspect").signature(getattr(fake_nuke, function)).parameters)
        assert parameters == stubs[""][function], function


def test_analyse_sets_the_cdl_the_daemon_judged_and_the_node_applies_it(nuke, plates, daemon_address):
    fake, colorgrade_nuke = nuke
    group = comp(nuke, plates, 1001, 1020, mode="keyed")
    group["server"].setValue(daemon_address)
    colorgrade_nuke.analyse(group)
    assert fake.messages == []
    status = group["status"].value()
    assert ", confidence 0." in status and "frames 1001-1020, keyed per frame" in status
    cdl_node = colorgrade_nuke.inner(group, "CDL")
    assert fake.frame() == 1      # the playhead is outside the range: no key of its own may be left there
    assert cdl_node["slope"].isAnimated() and sorted(cdl_node["slope"].keys[0]) == list(range(1001, 1021))
    assert sorted(cdl_node["saturation"].keys[0]) == list(range(1001, 1021))
    assert not [n for n in group.nodes() if n.Class() == "Write"]     # the render node is gone again
    # The group's output, back in the plate's encoding, is the CDL applied to the plate by colorgrade.color.
    frame = 1005
    cdl = CDL(*(tuple(cdl_node[k].getValueAt(frame, i) for i in range(3)) for k in ("slope", "offset", "power")),
              cdl_node["saturation"].getValueAt(frame))
    plate = next(f for n, f in numbered_frames(plates, frame, frame))
    expected = apply(cdl, plate.astype(np.float32) / 65535)
    output = fake._convert(fake.render(group, frame), "scene_linear", "sRGB")
    np.testing.assert_allclose(output, expected, atol=1e-4)
    assert np.abs(output - plate / 65535).max() > 0.01                # and it did change the picture
    fake.frame(frame)
    group["cube"].setValue(str(plates.parent / "look.cube"))
    colorgrade_nuke.bake(group)
    np.testing.assert_allclose(read_cube(plates.parent / "look.cube").table, cdl.to_lut(33).table, atol=1e-5)


def test_a_steady_correction_is_one_constant_value(nuke, plates, daemon_address):
    fake, colorgrade_nuke = nuke
    group = comp(nuke, plates, 1021, 1038, mode="constant")
    group["server"].setValue(daemon_address)
    colorgrade_nuke.analyse(group)
    cdl_node = colorgrade_nuke.inner(group, "CDL")
    assert not cdl_node["slope"].isAnimated() and "constant" in group["status"].value()
    assert cdl_node["slope"].value(0) / cdl_node["slope"].value(2) > 1    # the cool shot: red up against blue


def test_auto_keys_only_a_correction_that_moves(nuke):
    _, colorgrade_nuke = nuke
    node = fake_nuke.nodes.OCIOCDLTransform()
    steady = {"slope": [1.1, 1, 0.9], "offset": [0, 0, 0], "power": [1, 1, 1], "saturation": 1.0}
    moving = dict(steady, slope=[1.2, 1, 0.9])
    frames = [{"frame": 1, "cdl": steady}, {"frame": 2, "cdl": steady}]
    assert colorgrade_nuke.set_cdl(node, {"cdl": steady, "per_frame": frames}, "auto") is False
    assert node["slope"].value(0) == pytest.approx(1.1) and not node["slope"].isAnimated()
    frames[1]["cdl"] = moving
    assert colorgrade_nuke.set_cdl(node, {"cdl": steady, "per_frame": frames}, "auto") is True
    assert node["slope"].getValueAt(2, 0) == pytest.approx(1.2)


def test_problems_are_shown_never_raised(nuke, plates):
    fake, colorgrade_nuke = nuke
    group = comp(nuke, plates, 1010, 1001)
    colorgrade_nuke.analyse(group)
    assert fake.messages[-1] == "colorgrade: first frame 1010 is after last frame 1001"
    group = comp(nuke, plates, 1001, 1003)
    group["server"].setValue("127.0.0.1:1")
    colorgrade_nuke.analyse(group)
    assert fake.messages[-1].startswith("colorgrade: colorgrade analyze failed: ")
    colorgrade_nuke.bake(group)
    assert fake.messages[-1] == "colorgrade: choose a cube file first"
    group.children.remove(colorgrade_nuke.inner(group, "CDL"))    # a user deleted the node inside
    colorgrade_nuke.analyse(group)
    assert fake.messages[-1] == "colorgrade: the group has lost its CDL node: create a new colorgrade node"


def test_an_unconnected_node_says_so_instead_of_grading_black(nuke, daemon_address):
    fake, colorgrade_nuke = nuke
    group = colorgrade_nuke.create()
    group["server"].setValue(daemon_address)
    colorgrade_nuke.analyse(group)
    assert fake.messages == ["colorgrade: nothing is connected to the colorgrade node's input"]
    assert not colorgrade_nuke.inner(group, "CDL")["slope"].isAnimated()


def test_nodes_are_named_with_uncollide_spelled_out(nuke, plates, tmp_path, monkeypatch):
    """uncollide=True is Nuke's default; a script relying on either default would break under the other."""
    fake, colorgrade_nuke = nuke
    first = comp(nuke, plates, 1001, 1001)
    monkeypatch.setattr(fake.Node.setName, "__defaults__", (False, False))   # as if the default were False
    second = comp(nuke, plates, 1001, 1001)
    assert (first.name(), second.name()) == ("colorgrade", "colorgrade1")
    second.begin()
    fake.nodes.Write(name="colorgradeRender")   # left in the group by an interrupted render, saved with the script
    second.end()
    assert colorgrade_nuke.render(second, "Input1", str(tmp_path / "frame.####.tif"), "sRGB", 1001, 1001)
    assert (tmp_path / "frame.1001.tif").exists()


def test_bake_passes_tiny_negative_values_as_numbers(nuke, tmp_path):
    fake, colorgrade_nuke = nuke
    group = colorgrade_nuke.create()
    cdl_node = colorgrade_nuke.inner(group, "CDL")
    cdl_node["slope"].setValue([1.05, 1.0, 0.97])
    cdl_node["offset"].setValue([-1.63647698e-05, 2e-6, -3e-7])     # "%g" would print -1.63647698e-05: an option
    group["cube"].setValue(str(tmp_path / "tiny.cube"))
    colorgrade_nuke.bake(group)
    assert fake.messages == [] and group["status"].value().startswith("baked frame 1 to ")
    expected = CDL((1.05, 1.0, 0.97), (-1.63647698e-05, 2e-6, -3e-7)).to_lut(33)
    np.testing.assert_allclose(read_cube(tmp_path / "tiny.cube").table, expected.table, atol=1e-6)


def test_menu_registers_the_node(nuke):
    fake, colorgrade_nuke = nuke
    sys.modules.pop("menu", None)
    importlib.import_module("menu")
    assert fake.menu("Nodes").commands["Color/colorgrade"] is colorgrade_nuke.create


def test_a_ref_input_matches_every_frame_to_the_graded_hero(nuke, tmp_path, daemon_address, ffmpeg):
    from colorgrade.models import metrics
    from media_fixtures import MONTAGE, make_montage

    fake, colorgrade_nuke = nuke
    reel = tmp_path / "montage.mp4"
    make_montage(ffmpeg, reel)
    from colorgrade.clients.media import write_image
    for number, frame in numbered_frames(reel):
        write_image(tmp_path / f"plate.{1001 + number}.png", frame)
    read = fake.nodes.Read(file=str(tmp_path / "plate.####.png"), colorspace="sRGB")
    group = colorgrade_nuke.create()
    group.setInput(0, read)
    group.setInput(1, read)                                   # the hero: a frame of the cool dune shot
    group["server"].setValue(daemon_address)
    group["first"].setValue(1001 + MONTAGE[0][0])
    group["last"].setValue(1001 + MONTAGE[0][1])
    group["ref_frame"].setValue(1001 + MONTAGE[1][0] + 6)
    group["mode"].setValue("constant")
    colorgrade_nuke.analyse(group)
    assert fake.messages == [] and re.search(r"matched to the reference with confidence [01]\.\d\d", group["status"].value())
    frame = 1001 + 6
    output = fake._convert(fake.render(group, frame), "scene_linear", "sRGB")
    hero = next(f for n, f in numbered_frames(tmp_path, frame + 12, frame + 12)) / 255
    plate = next(f for n, f in numbered_frames(tmp_path, frame, frame)) / 255
    before = metrics.ciede2000(plate[:, 60:300], hero[:, :240]).mean()
    after = metrics.ciede2000(output[:, 60:300], hero[:, :240]).mean()
    assert after < before / 2


def test_a_scene_linear_script_is_graded_in_acescct_to_its_hero(nuke, daemon_address, tmp_path):
    """grade in color_timing: an ACEScg plate with an error made in ACEScct, its clean hero on the ref input ->
    the group's output within 1 dE00 of the hero on the display, the CDL acting in ACEScct."""
    from test_colour_management import delta_e, on_display, scene, with_error, write_exr

    fake, colorgrade_nuke = nuke
    clean = scene("garden.png")[::2, ::2]
    for number in (1001, 1002):
        write_exr(tmp_path / f"plate.{number}.exr", with_error(clean, "ACEScg"))
    write_exr(tmp_path / "hero.1001.exr", clean)
    group = colorgrade_nuke.create()
    group.setInput(0, fake.nodes.Read(file=str(tmp_path / "plate.####.exr"), colorspace="scene_linear"))
    group.setInput(1, fake.nodes.Read(file=str(tmp_path / "hero.####.exr"), colorspace="scene_linear"))
    for knob, value in (("first", 1001), ("last", 1002), ("ref_frame", 1001), ("grade_in", "color_timing"),
                        ("server", daemon_address)):
        group[knob].setValue(value)
    colorgrade_nuke.analyse(group)
    assert fake.messages == [] and group["status"].value().endswith("; CDL in ACEScct")
    assert colorgrade_nuke.inner(group, "ToEncoding")["out_colorspace"].value() == "color_timing"
    output = fake.render(group, 1002)
    assert delta_e(on_display(output, "ACEScg"), on_display(clean, "ACEScg")) < 1
