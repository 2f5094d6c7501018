# Nuke runs this file at start-up (GUI only) for every folder on its plug-in path.
import nuke

import colorgrade_nuke

nuke.menu("Nodes").addCommand("Color/colorgrade", colorgrade_nuke.create, icon="ColorCorrect.png")
