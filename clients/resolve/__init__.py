"""The DaVinci Resolve script (``colorgrade_resolve.py``: one standard-library file a user copies into
Resolve's ``Fusion/Scripts/Color``, or ``colorgrade install resolve``)."""
