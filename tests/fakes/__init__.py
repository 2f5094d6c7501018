"""Faithful fakes of host APIs (DaVinci Resolve's scripting objects, Nuke's ``nuke`` module)."""
