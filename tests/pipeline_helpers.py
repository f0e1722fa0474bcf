"""The pipeline tests' helpers, imported as `ph`: those of local/bbws_local/pipeline_client.py, which the
demos share."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))

from bbws_local.pipeline_client import *  # noqa: E402,F401,F403
