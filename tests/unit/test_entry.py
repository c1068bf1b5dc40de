import subprocess
import sys


def test_version_names_python():
    out = subprocess.run(
        [sys.executable, "-m", "swarmlet", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("swarmlet ")
    assert "Python 3." in out
