"""``colorgrade install resolve|nuke``: put a host's adapter where the host looks for it, pointing at this
colorgrade (the adapters run in the host's own Python and call the ``colorgrade`` command recorded here)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

INSTALL_EPILOG = """examples:
  colorgrade install resolve                          # Workspace > Scripts > Color > colorgrade_resolve
  colorgrade install resolve --server gradebox:50051 --tls-ca cert.pem --token-file token.txt --node 2
  colorgrade install nuke                             # Nodes > Color > colorgrade, after Nuke restarts

Resolve: copies the script into your user Fusion/Scripts/Color folder (menu scripts work in the free
edition; running it from a shell needs Studio) and writes its settings to ~/.config/colorgrade/resolve.json.
Nuke: adds this plug-in folder to ~/.nuke/init.py (once) and records the command in ~/.nuke/colorgrade.json."""

PACKAGE = Path(__file__).resolve().parent
MARK = "# added by colorgrade install nuke"


def command() -> list[str]:
    """How the host adapters run this colorgrade: this Python, whatever the host's Python is."""
    return [sys.executable, "-m", "colorgrade"]


def resolve_scripts_folder() -> Path:
    """The user's Fusion/Scripts/Color folder, where Resolve lists menu scripts (per Resolve's scripting README)."""
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Color"
    if sys.platform.startswith("win"):
        return Path(os.environ.get("APPDATA", home)) / "Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts/Color"
    return home / ".local/share/DaVinciResolve/Fusion/Scripts/Color"


def configure_install(parser: argparse.ArgumentParser) -> None:
    parser.epilog = INSTALL_EPILOG
    parser.add_argument("host", choices=["resolve", "nuke"])
    parser.add_argument("--dest", metavar="FOLDER", help="resolve: the scripts folder; nuke: the .nuke folder "
                                                         "(default: the user's own)")
    parser.add_argument("--server", help="resolve: daemon address the script uses (default: a private local one)")
    parser.add_argument("--tls-ca", help="resolve: CA certificate for a TLS daemon")
    parser.add_argument("--token-file", help="resolve: the daemon's token file")
    parser.add_argument("--node", type=int, help="resolve: node the CDL goes on (default 1)")


def run_install(args) -> int:
    try:
        written = install_resolve(args) if args.host == "resolve" else install_nuke(args)
    except OSError as error:
        print(f"colorgrade install: {error}", file=sys.stderr)
        return 1
    for line in written:
        print(line)
    return 0


def install_resolve(args) -> list[str]:
    source = (PACKAGE / "resolve" / "colorgrade_resolve.py").read_text()
    pinned = source.replace('COLORGRADE = ["colorgrade"]', f"COLORGRADE = {command()!r}", 1)
    folder = Path(args.dest) if args.dest else resolve_scripts_folder()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "colorgrade_resolve.py").write_text(pinned)
    settings = {key: value for key, value in (("server", args.server), ("tls_ca", args.tls_ca),
                                              ("token_file", args.token_file), ("node", args.node)) if value}
    settings_file = Path.home() / ".config" / "colorgrade" / "resolve.json"
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(json.dumps(settings, indent=2))
    return [f"installed {folder / 'colorgrade_resolve.py'}", f"settings {settings_file}",
            "in Resolve: Workspace > Scripts > Color > colorgrade_resolve"]


def install_nuke(args) -> list[str]:
    folder = Path(args.dest) if args.dest else Path.home() / ".nuke"
    folder.mkdir(parents=True, exist_ok=True)
    init = folder / "init.py"
    existing = init.read_text() if init.exists() else ""
    line = f"nuke.pluginAddPath({str(PACKAGE / 'nuke')!r})  {MARK}\n"
    kept = [old for old in existing.splitlines(keepends=True) if MARK not in old]   # a reinstall replaces its line
    if not any(old.strip() == "import nuke" for old in kept):
        kept.insert(0, "import nuke\n")
    init.write_text("".join(kept) + line)
    (folder / "colorgrade.json").write_text(json.dumps({"command": command()}, indent=2))
    return [f"added {PACKAGE / 'nuke'} to {init}", f"command recorded in {folder / 'colorgrade.json'}",
            "restart Nuke: Nodes > Color > colorgrade"]
