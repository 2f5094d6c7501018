"""`colorgrade install resolve|nuke` writes where the hosts look, pointing at this colorgrade."""
import json
import os
import subprocess
import sys
from pathlib import Path



def install(home, *args):
    return subprocess.run([sys.executable, "-m", "colorgrade", "install", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "HOME": str(home)})


def test_resolve_script_is_installed_with_this_command_and_the_settings(tmp_path):
    result = install(tmp_path, "resolve", "--server", "gradebox:50051", "--node", "2")
    assert result.returncode == 0, result.stderr
    script = tmp_path / ".local/share/DaVinciResolve/Fusion/Scripts/Color/colorgrade_resolve.py"
    assert f"COLORGRADE = {[sys.executable, '-m', 'colorgrade']!r}" in script.read_text()
    settings = json.loads((tmp_path / ".config/colorgrade/resolve.json").read_text())
    assert settings == {"server": "gradebox:50051", "node": 2}
    # Outside Resolve, without Studio's scripting module, it says what to do in one line: no traceback.
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HOME": str(tmp_path)})
    assert run.returncode == 1 and run.stderr.strip().splitlines() == [
        "colorgrade: run this from Resolve's Workspace > Scripts menu, or set up external scripting "
        "(Resolve Studio) so DaVinciResolveScript imports"]


def test_nuke_plugin_path_is_added_once(tmp_path):
    (tmp_path / ".nuke").mkdir()
    (tmp_path / ".nuke" / "init.py").write_text("import nuke\nnuke.pluginAddPath('/studio/tools')\n")
    for _ in range(2):
        result = install(tmp_path, "nuke")
        assert result.returncode == 0, result.stderr
    lines = (tmp_path / ".nuke" / "init.py").read_text().splitlines()
    added = [line for line in lines if "colorgrade install nuke" in line]
    assert len(added) == 1 and lines[:2] == ["import nuke", "nuke.pluginAddPath('/studio/tools')"]
    folder = Path(added[0].split("(", 1)[1].split(")", 1)[0].strip("'\""))
    assert (folder / "menu.py").exists() and (folder / "colorgrade_nuke.py").exists()
    assert json.loads((tmp_path / ".nuke" / "colorgrade.json").read_text())["command"][0] == sys.executable
