"""nqg.quantum.ground_state is the exported function, also after its namesake submodule is imported."""

from __future__ import annotations

import subprocess
import sys


def test_ground_state_function_survives_the_submodule_import():
    code = (
        "from nqg.quantum.ground_state import build_problem\n"  # loads the submodule of the same name
        "import nqg.quantum as q\n"
        "from nqg.quantum import ground_state\n"
        "assert callable(q.ground_state) and ground_state is q.ground_state, q.ground_state\n"
        "assert callable(build_problem)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
