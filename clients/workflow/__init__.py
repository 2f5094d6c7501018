"""The product workflow on top of the client: corrections per input, shot or frame range (``corrections``),
cuts (``shots``), scenes and heroes (``continuity``), EDLs (``edl``), and the colourist's report with its
scopes (``report``, ``scopes``). Torch-free, like every client module."""
