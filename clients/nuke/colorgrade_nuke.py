"""colorgrade for Nuke: a Group whose OCIOCDLTransform is set by the colorgrade daemon, editable after.

Inside the group: Input -> OCIOColorSpace (linear to ENCODING) -> OCIOCDLTransform -> OCIOColorSpace
(back) -> Output, and a second input, ``ref``: connect a graded hero frame there (frame ``ref frame``)
and Analyse matches every frame to it. The CDL acts on display-encoded values, the values the daemon
judged: "Analyse" renders the input through an internal Write in that same encoding to 16-bit TIFFs, runs
``colorgrade analyze FOLDER --per-frame --json`` and sets the CDL knobs, keyed per frame when the
correction moves over the range, constant when it does not. (The CDL node's own working_space, Nuke
14+, stays at its default scene_linear, so it converts nothing itself.) "Bake .cube" writes the CDL
now on the knobs (at the current frame) as a LUT, through ``colorgrade cube``.

``grade in`` color_timing grades a scene-linear script in its grading space instead (docs/colour-management.md):
the group converts scene_linear -> color_timing (ACEScct in an ACES config) around the CDL, and Analyse renders
the input as it is, scene-linear half-float EXRs, for ``colorgrade analyze --colorspace scene_linear``, which
judges them on the display and answers the CDL in color_timing (``ocio config``: the config colorgrade reads
those roles from; empty: $OCIO, else OCIO's studio config: set it to the script's own where they differ).

Standard library only: Nuke's Python (3.7 in Nuke 13, 3.9-3.11 in 14-16) ships its own protobuf,
which clashes with colorgrade's; the ``colorgrade`` command runs in its own environment.
"""
import json
import os
import shutil
import subprocess
import tempfile

import nuke

# The command that runs colorgrade; `colorgrade install nuke` records its own absolute one in SETTINGS_FILE.
COLORGRADE = ["colorgrade"]
SETTINGS_FILE = os.path.join(os.path.expanduser("~"), ".nuke", "colorgrade.json")
MODES = ["auto", "keyed", "constant"]
# Where the CDL acts: on the display encoding the daemon judges (``encoding``), or in the config's grading role.
GRADE_IN = ["encoding", "color_timing"]
# "auto" keys the knobs when any CDL value moves more than this over the range: half a percent of slope
# is about one 8-bit code at mid-grey, below which keys would only add curve clutter.
MOVES = 0.005
CDL_KNOBS = ("slope", "offset", "power")


def command():
    """The colorgrade command `colorgrade install nuke` recorded, else `colorgrade` on the PATH."""
    if os.path.exists(SETTINGS_FILE):
        with open(SETTINGS_FILE) as handle:
            return json.load(handle).get("command", COLORGRADE)
    return COLORGRADE


def make(node_class, name, **knobs):
    """A ``node_class`` node in the current group, named ``name`` or, where that is taken, a numbered variant.
    uncollide=True is Nuke's default, spelled out: a script that relies on either default breaks under the other."""
    node = getattr(nuke.nodes, node_class)(**knobs)
    node.setName(name, uncollide=True)
    return node


def create():
    """Build the colorgrade group after the selected node (the Nodes > Color > colorgrade menu entry)."""
    group = nuke.createNode("Group", inpanel=False)
    group.setName("colorgrade", uncollide=True)   # a second colorgrade node is colorgrade1
    group.begin()
    source = make("Input", "Input1")
    make("Input", "ref")   # input 1: a graded hero frame to match to (optional)
    to_encoding = make("OCIOColorSpace", "ToEncoding", in_colorspace="scene_linear", out_colorspace="sRGB")
    to_encoding.setInput(0, source)
    cdl = make("OCIOCDLTransform", "CDL")
    cdl.setInput(0, to_encoding)
    back = make("OCIOColorSpace", "FromEncoding", in_colorspace="sRGB", out_colorspace="scene_linear")
    back.setInput(0, cdl)
    make("Output", "Output1").setInput(0, back)
    group.end()
    root = nuke.root()
    knobs = [nuke.Tab_Knob("colorgrade", "colorgrade"),
             nuke.String_Knob("server", "server", ""),
             nuke.File_Knob("tls_ca", "TLS CA"),
             nuke.File_Knob("token_file", "token file"),
             nuke.Enumeration_Knob("mode", "mode", MODES),
             nuke.Int_Knob("window", "window"),
             nuke.Int_Knob("first", "first frame"),
             nuke.Int_Knob("last", "last frame"),
             nuke.String_Knob("encoding", "encoding", "sRGB"),
             nuke.Enumeration_Knob("grade_in", "grade in", GRADE_IN),
             nuke.File_Knob("ocio", "ocio config"),
             nuke.Int_Knob("ref_frame", "ref frame"),
             nuke.PyScript_Knob("analyse", "Analyse", "colorgrade_nuke.analyse(nuke.thisNode())"),
             nuke.File_Knob("cube", "cube file"),
             nuke.PyScript_Knob("bake", "Bake .cube", "colorgrade_nuke.bake(nuke.thisNode())"),
             nuke.Text_Knob("status", "", "not analysed yet")]
    for knob in knobs:
        group.addKnob(knob)
    group["window"].setValue(2)
    group["first"].setValue(int(root["first_frame"].value()))
    group["last"].setValue(int(root["last_frame"].value()))
    group["ref_frame"].setValue(int(root["first_frame"].value()))
    return group


def inner(group, name):
    """The group's own node ``name``; LookupError when someone has deleted it."""
    for node in group.nodes():
        if node.name() == name:
            return node
    raise LookupError("the group has lost its %s node: create a new colorgrade node" % name)


def analyse(group):
    """Render the range, ask the daemon, set the CDL knobs; problems go to the status line and a message."""
    try:
        _analyse(group)
    except LookupError as error:
        report(group, str(error))


def _analyse(group):
    cdl_node = inner(group, "CDL")   # before any work: a group missing a node says so at once
    if group.input(0) is None:       # Nuke would render black frames, and the daemon would grade them
        return report(group, "nothing is connected to the colorgrade node's input")
    first, last = int(group["first"].value()), int(group["last"].value())
    if first > last:
        return report(group, "first frame %d is after last frame %d" % (first, last))
    encoding = group["encoding"].value()
    working = group["grade_in"].value() == "color_timing"
    for name in ("ToEncoding", "FromEncoding"):
        node = inner(group, name)
        node["out_colorspace" if name == "ToEncoding" else "in_colorspace"].setValue(
            "color_timing" if working else encoding)
    # In the grading space colorgrade is sent the scene-linear pixels and renders the display itself.
    rendered, suffix = ("scene_linear", "exr") if working else (encoding, "tif")
    folder = tempfile.mkdtemp(prefix="colorgrade-nuke-")
    try:
        frames = os.path.join(folder, "frames")
        os.mkdir(frames)
        if not render(group, "Input1", os.path.join(frames, "frame.####." + suffix), rendered, first, last):
            return
        arguments = ["analyze", frames, "--per-frame", "--json", "--window", str(int(group["window"].value()))]
        if working:
            arguments += ["--colorspace", "scene_linear"]
            if group["ocio"].value():
                arguments += ["--ocio", group["ocio"].value()]
        if group.input(1) is not None:   # the ref input: match every frame to that graded frame
            hero = int(group["ref_frame"].value())
            if not render(group, "ref", os.path.join(folder, "ref.####." + suffix), rendered, hero, hero):
                return
            arguments += ["--reference", os.path.join(folder, "ref.%04d.%s" % (hero, suffix))]
        for knob in ("server", "tls_ca", "token_file"):
            if group[knob].value():
                arguments += ["--" + knob.replace("_", "-"), group[knob].value()]
        output = run_colorgrade(group, arguments)
        if output is None:
            return
        entry, = json.loads(output).values()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    keyed = set_cdl(cdl_node, entry, group["mode"].value())
    report(group, "%s; frames %d-%d, %s%s" % (entry["description"], first, last,
                                            "keyed per frame" if keyed else "constant",
                                            "; CDL in " + entry["grading_space"] if working else ""), error=False)


def render(group, input_name, pattern, encoding, first, last):
    """Render the group's input ``input_name`` for frames first..last in ``encoding`` through a Write made for
    it and deleted after (16-bit TIFFs, or half-float EXRs for a .exr ``pattern``) -> whether it worked (a
    failure is on the status line)."""
    group.begin()
    exr = pattern.endswith(".exr")
    write = make("Write", "colorgradeRender", file=pattern, file_type="exr" if exr else "tiff",
                 datatype="16 bit half" if exr else "16 bit", colorspace=encoding)
    write.setInput(0, inner(group, input_name))
    group.end()
    try:
        nuke.execute(write, first, last)
    except RuntimeError as error:
        report(group, "could not render the %s: %s" % ("reference" if input_name == "ref" else "input", error))
        return False
    finally:
        nuke.delete(write)
    return True


def set_cdl(node, entry, mode):
    """Key the knobs per frame (``keyed``, or ``auto`` when the correction moves) or set the range's mean.
    -> whether the knobs were keyed."""
    frames = entry["per_frame"]
    spread = max(max(abs(a - b) for a, b in zip(values(f["cdl"]), values(frames[0]["cdl"]))) for f in frames)
    keyed = mode == "keyed" or (mode == "auto" and spread > MOVES)
    for name in CDL_KNOBS + ("saturation",):
        node[name].clearAnimated()
    if not keyed:
        for name in CDL_KNOBS:
            node[name].setValue(list(entry["cdl"][name]))
        node["saturation"].setValue(entry["cdl"]["saturation"])
        return False
    for name in CDL_KNOBS + ("saturation",):
        node[name].setAnimated()
    for frame in frames:
        for name in CDL_KNOBS:
            for channel, value in enumerate(frame["cdl"][name]):
                node[name].setValueAt(value, frame["frame"], channel)
        node["saturation"].setValueAt(frame["cdl"]["saturation"], frame["frame"])
    # setAnimated() keyed the old value at the current frame; outside the range, that key would pull
    # every frame between it and the range toward it.
    current = nuke.frame()
    if current not in {frame["frame"] for frame in frames}:
        for name in CDL_KNOBS:
            for channel in range(3):
                node[name].removeKeyAt(current, channel)
        node["saturation"].removeKeyAt(current, 0)
    return True


def values(cdl):
    return list(cdl["slope"]) + list(cdl["offset"]) + list(cdl["power"]) + [cdl["saturation"]]


def bake(group):
    """Write the CDL on the knobs at the current frame as a .cube (``colorgrade cube``)."""
    path = group["cube"].value()
    if not path:
        return report(group, "choose a cube file first")
    try:
        node, frame = inner(group, "CDL"), nuke.frame()
    except LookupError as error:
        return report(group, str(error))
    arguments = ["cube", path]
    # Fixed-point: "-1.6e-05" would read to the command line as an option, "-0.0000160000" reads as a number.
    for name in CDL_KNOBS:
        arguments += ["--" + name] + ["%.10f" % node[name].getValueAt(frame, channel) for channel in range(3)]
    arguments += ["--saturation", "%.10f" % node["saturation"].getValueAt(frame)]
    if run_colorgrade(group, arguments) is None:
        return
    report(group, "baked frame %d to %s" % (frame, path), error=False)


def run_colorgrade(group, arguments):
    """Run ``colorgrade ARGUMENTS`` -> its standard output, or None once its failure (the last line it wrote
    to standard error) is on the status line."""
    run = command() + arguments
    try:
        done = subprocess.run(run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    except OSError as error:
        report(group, "cannot run %s: %s (run `colorgrade install nuke`)" % (run[0], error))
        return None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        report(group, "colorgrade %s failed: %s" % (arguments[0], lines[-1] if lines else "no message"))
        return None
    return done.stdout


def report(group, text, error=True):
    group["status"].setValue(text)
    if error:
        nuke.message("colorgrade: " + text)
