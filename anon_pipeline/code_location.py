"""The code location every deployment loads (workspace.yaml's): one name and module for
`make ui`, the demo's launched runs and the cluster, so a run made by one can be
re-executed from another's UI (a run's origin names its code location)."""

from __future__ import annotations

from pathlib import Path

import yaml

LOCATION_NAME = "anon_pipeline"
MODULE = "anon_pipeline.definitions"
WORKSPACE = {
    "load_from": [{"python_module": {"module_name": MODULE, "location_name": LOCATION_NAME}}]
}


def write_workspace(path: Path) -> Path:
    """A workspace.yaml at `path` that loads this code location (no path into a checkout,
    so it works from an installed wheel)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(WORKSPACE, sort_keys=False))
    return path
