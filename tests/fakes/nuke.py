"""A fake of Nuke's ``nuke`` module, for the calls the colorgrade node makes, as Foundry documents them.

Names and argument orders follow Nuke's Python API (checked against the types-nuke stubs by
``tests/test_nuke.py``). Behaviour kept: nodes are created in the current context (the root, or the
group between ``begin()`` and ``end()``); array knobs take a list or per-channel values and keys per
frame; ``execute`` renders a Write node's input to real files (16-bit TIFF, or half-float EXR for
file_type exr; frame number in ``####``), converting from the working space (linear) to the Write's
``colorspace``; OCIOColorSpace and OCIOCDLTransform compute with OpenColorIO as Nuke's do (the CDL in ASC
style); ``message`` shows text (recorded here). Colour spaces known: "scene_linear"/"linear" and "sRGB"
(the IEC 61966-2-1 curve); between any other names (roles such as color_timing, spaces such as ACEScct),
OCIO's studio config, as an ACES script's config converts them (its scene_linear is ACEScg).
"""
import re

import colour
import numpy as np
import PyOpenColorIO as OCIO
import tifffile

messages: list[str] = []
ROOT_FORMAT = (180, 320)   # (height, width) of the script's format: what an unconnected input renders at
_current_frame = [1]


class Knob:
    def __init__(self, name, label=None, value=None):
        self._name, self._value = name, value

    def name(self):
        return self._name

    def value(self, index=0):
        return self._value

    def getValue(self, channel=0):
        return self._value

    def setValue(self, val, chan=-1):
        self._value = val
        return True


class String_Knob(Knob):
    def __init__(self, name, label=None, text=""):
        super().__init__(name, label, text)


class File_Knob(String_Knob):
    pass


class Text_Knob(String_Knob):
    pass


class Tab_Knob(Knob):
    pass


class PyScript_Knob(Knob):
    def __init__(self, name, label=None, command=""):
        super().__init__(name, label, command)


class Enumeration_Knob(Knob):
    def __init__(self, name, label, values):
        super().__init__(name, label, values[0])
        self.values = list(values)

    def setValue(self, val, chan=-1):
        if val not in self.values:
            raise ValueError(f"{self._name}: {val!r} is not one of {self.values}")
        self._value = val
        return True


class Array_Knob(Knob):
    """Per-channel values; keyed channels interpolate linearly between keys and hold outside them."""

    def __init__(self, name, label=None, value=0.0, channels=1):
        super().__init__(name, label)
        self.values = [float(value)] * channels
        self.keys = None   # per channel: {frame: value}, when animated

    def value(self, index=0):
        return self.getValueAt(frame(), index) if self.keys else self.values[index]

    def getValue(self, channel=0):
        return self.value(channel)

    def setValue(self, val, chan=-1):
        if self.keys:
            return self.setValueAt(val, frame(), chan)
        if isinstance(val, (list, tuple)):
            if len(val) != len(self.values):
                return False
            self.values = [float(v) for v in val]
        elif chan < 0:
            self.values = [float(val)] * len(self.values)
        else:
            self.values[chan] = float(val)
        return True

    def isAnimated(self, channel=-1):
        return self.keys is not None

    def setAnimated(self, channel=-1):
        # As Nuke does: animating a knob keys its current value at the current frame.
        if self.keys is None:
            self.keys = [{float(frame()): value} for value in self.values]
        return True

    def removeKeyAt(self, frame, index=-1, view=None):
        if self.keys is None:
            return False
        for channel in (range(len(self.values)) if index < 0 else [index]):
            self.keys[channel].pop(float(frame), None)
        return True

    def clearAnimated(self, channel=-1):
        self.keys = None
        return True

    def setValueAt(self, val, time, index=-1, view=None):
        if self.keys is None:
            return False
        for channel in (range(len(self.values)) if index < 0 else [index]):
            self.keys[channel][float(time)] = float(val)
        return True

    def getValueAt(self, frame, index=0, view=None):
        if not self.keys or not self.keys[index]:
            return self.values[index]
        times = sorted(self.keys[index])
        return float(np.interp(frame, times, [self.keys[index][t] for t in times]))


class Int_Knob(Array_Knob):
    def __init__(self, name, label=None):
        super().__init__(name, label, 0)

    def value(self):
        return int(super().value(0))

    def setValue(self, val):
        return super().setValue(int(val))


class Color_Knob(Array_Knob):
    def __init__(self, name, label=None, value=0.0):
        super().__init__(name, label, value, channels=3)


class Node:
    def __init__(self, node_class, name):
        self._class, self._name, self._inputs, self._knobs = node_class, name, {}, {}
        self._parent = None   # the group the node was made in

    def Class(self):
        return self._class

    def name(self):
        return self._name

    def setName(self, name, uncollide=True, updateExpressions=False):
        """Names are unique within a group. Nuke documents that ``uncollide`` (default True) resolves a collision;
        here that numbers the name on (Blur1 -> Blur2, colorgrade -> colorgrade1), and without it a name in use
        is refused, so a script leaning on the default shows."""
        taken = {n.name() for n in (self._parent.children if self._parent else []) if n is not self}
        if name in taken and not uncollide:
            raise ValueError(f"the name {name!r} is in use")
        stem = name.rstrip("0123456789")
        number = int(name[len(stem):] or 0)
        while name in taken:
            number += 1
            name = f"{stem}{number}"
        self._name = name

    def knob(self, p, follow_link=True):
        return self._knobs.get(p)

    def knobs(self):
        return dict(self._knobs)

    def __getitem__(self, name):
        if name not in self._knobs:
            raise NameError(f"{self._name} has no knob {name!r}")
        return self._knobs[name]

    def addKnob(self, knob):
        self._knobs[knob.name()] = knob

    def setInput(self, i, node):
        self._inputs[i] = node
        return True

    def input(self, index):
        return self._inputs.get(index)


class Group(Node):
    def __init__(self, node_class="Group", name="Group1"):
        super().__init__(node_class, name)
        self.children: list[Node] = []

    def begin(self):
        _context.append(self)
        return self

    def end(self):
        _context.remove(self)

    def nodes(self):
        return list(self.children)


class Root(Group):
    def __init__(self):
        super().__init__("Root", "root")
        self.addKnob(Int_Knob("first_frame"))
        self.addKnob(Int_Knob("last_frame"))
        self["first_frame"].setValue(1)
        self["last_frame"].setValue(100)


# Knobs each node class starts with, as Nuke creates them.
_DEFAULT_KNOBS = {
    "OCIOCDLTransform": lambda: [Color_Knob("slope", value=1.0), Color_Knob("offset", value=0.0),
                                 Color_Knob("power", value=1.0), Array_Knob("saturation", value=1.0),
                                 String_Knob("working_space", text="scene_linear")],
    "OCIOColorSpace": lambda: [String_Knob("in_colorspace", text="scene_linear"),
                               String_Knob("out_colorspace", text="scene_linear")],
    "Write": lambda: [File_Knob("file"), String_Knob("file_type"), String_Knob("datatype", text="8 bit"),
                      String_Knob("colorspace", text="sRGB")],
    "Read": lambda: [File_Knob("file"), String_Knob("colorspace", text="sRGB")],
    "Input": lambda: [Int_Knob("number")],
}


def _make(node_class, knobs=None):
    node = Group(node_class, node_class + "1") if node_class == "Group" else Node(node_class, node_class + "1")
    node._parent = _context[-1]
    node.setName(node.name(), uncollide=True)   # Nuke names a new node Blur1, Blur2, ... in its group
    for knob in _DEFAULT_KNOBS.get(node_class, lambda: [])():
        node.addKnob(knob)
    if node_class == "Input":   # Nuke numbers a group's inputs in the order their Input nodes were made
        node["number"].setValue(sum(1 for n in _context[-1].children if n.Class() == "Input"))
    for name, value in (knobs or {}).items():
        if name == "name":
            node.setName(value)
        else:
            node[name].setValue(value)
    _context[-1].children.append(node)
    return node


class _Nodes:
    """``nuke.nodes.ClassName(knob=value, ...)``."""

    def __getattr__(self, node_class):
        return lambda **knobs: _make(node_class, knobs)


nodes = _Nodes()
_root = Root()
_context: list[Group] = [_root]


def root():
    return _root


def createNode(typ, knobs="", inpanel=True):
    return _make(typ)


def delete(n):
    for group in [_root] + [c for c in _root.children if isinstance(c, Group)]:
        if n in group.children:
            group.children.remove(n)


def frame(f=None):
    if f is not None:
        _current_frame[0] = f
    return _current_frame[0]


def message(prompt):
    messages.append(prompt)


def execute(nameOrNode, start, end, incr=1, views=None, continueOnError=False):
    """Render a Write node's input for frames start..end to its file pattern."""
    write = nameOrNode
    if write.Class() != "Write" or write.input(0) is None:
        raise RuntimeError(f"{write.name()}: nothing to render")
    kind = (write["file_type"].value(), write["datatype"].value())
    if kind not in {("tiff", "16 bit"), ("exr", "16 bit half")}:
        raise RuntimeError("this fake renders 16-bit TIFF and half-float EXR only")
    for number in range(start, end + 1, incr):
        pixels = _convert(render(write.input(0), number), "scene_linear", write["colorspace"].value())
        path = re.sub(r"#+", lambda m: f"{number:0{len(m.group())}d}", write["file"].value())
        if kind[0] == "exr":
            from colorgrade.clients.media import write_image

            write_image(path, pixels.astype(np.float16))
        else:
            tifffile.imwrite(path, np.clip(np.rint(pixels * 65535), 0, 65535).astype(np.uint16), photometric="rgb")


def render(node, number):
    """The float RGB image ``node`` outputs at frame ``number``, in the working space (linear)."""
    kind = node.Class()
    if kind == "Read":
        path = re.sub(r"#+", lambda m: f"{number:0{len(m.group())}d}", node["file"].value())
        image = tifffile.imread(path) if path.endswith(".tif") else _read_png(path)
        codes = np.float64(np.iinfo(image.dtype).max if image.dtype.kind == "u" else 1)
        return _convert(image[..., :3] / codes, node["colorspace"].value(), "scene_linear")
    if kind == "Group":
        return render(next(n for n in node.children if n.Class() == "Output"), number)
    if kind == "Input":
        group = next(g for g in [_root] + _all_groups() if node in g.children)
        source = group.input(int(node["number"].value()))
        if source is None:   # Nuke renders an unconnected input as black in the root format
            return np.zeros(ROOT_FORMAT + (3,))
        return render(source, number)
    image = render(node.input(0), number)
    if kind == "OCIOColorSpace":
        return _convert(image, node["in_colorspace"].value(), node["out_colorspace"].value())
    if kind == "OCIOCDLTransform":
        transform = OCIO.CDLTransform()
        transform.setSlope([node["slope"].getValueAt(number, i) for i in range(3)])
        transform.setOffset([node["offset"].getValueAt(number, i) for i in range(3)])
        transform.setPower([node["power"].getValueAt(number, i) for i in range(3)])
        transform.setSat(node["saturation"].getValueAt(number))
        transform.setStyle(OCIO.CDL_ASC)
        working = node["working_space"].value()
        pixels = np.ascontiguousarray(_convert(image, "scene_linear", working), dtype=np.float32)
        OCIO.Config.CreateRaw().getProcessor(transform).getDefaultCPUProcessor().applyRGB(pixels)
        return _convert(pixels.astype(np.float64), working, "scene_linear")
    return image   # Output and any pass-through node


def _all_groups():
    return [n for n in _root.children if isinstance(n, Group)]


def _read_png(path):
    from colorgrade.clients.media import read_image

    return read_image(path)


_STUDIO = OCIO.Config.CreateFromBuiltinConfig("studio-config-latest")


def _convert(image, source, target):
    names = {"linear": "scene_linear", "scene_linear": "scene_linear", "sRGB": "sRGB"}
    if source not in names or target not in names:
        if _STUDIO.getColorSpace(source) is None or _STUDIO.getColorSpace(target) is None:
            raise RuntimeError(f"unknown colour space {source!r} or {target!r}")
        pixels = np.ascontiguousarray(image, dtype=np.float32).copy()
        _STUDIO.getProcessor(source, target).getDefaultCPUProcessor().applyRGB(pixels)
        return pixels.astype(np.float64)
    if names[source] == names[target]:
        return image
    if names[target] == "sRGB":
        return colour.cctf_encoding(np.clip(image, 0, None), function="sRGB")
    return colour.cctf_decoding(image, function="sRGB")


class _Menu:
    def __init__(self):
        self.commands = {}

    def addCommand(self, name, command=None, shortcut=None, icon=None, tooltip=None, index=None, readonly=None,
                   shortcutContext=None, tag=None, tagTarget=None):
        self.commands[name] = command


_menus: dict[str, _Menu] = {}


def menu(name):
    return _menus.setdefault(name, _Menu())


def _reset():
    """A new, empty script (what File > New gives): for test isolation, not part of Nuke's API."""
    global _root
    _root = Root()
    _context[:] = [_root]
    messages.clear()
    _current_frame[0] = 1
    _menus.clear()
