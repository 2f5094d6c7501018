"""The Nuke plug-in folder (``nuke.pluginAddPath`` it, or ``colorgrade install nuke``): ``menu.py`` adds
Nodes > Color > colorgrade, ``colorgrade_nuke.py`` builds the node and talks to the daemon."""
