"""The pure tests of local/: the emulator's pieces, the moto patches and the service fixtures, each in
this process, without the estate (`make unit-py`, before `make test` starts it).

Nothing here may need the estate: this folder's pytest.ini keeps pytest from loading local/tests'
conftest.py (which stops the run when no estate answers), and that conftest leaves this folder out.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # local/: bbws_local and services
