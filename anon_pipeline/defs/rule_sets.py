"""The rule sets in force, loaded when the code location loads.

Their versions are the assets' code versions, so the UI marks partitions made with
other rules as stale. A broken rule file stops the code location from loading, with
the error naming the file, line and entry.
"""

import os
from pathlib import Path

from anon_pipeline.engine.rules import SHIPPED_RULES_DIR, load_rule_set

RULES_DIR_ENV_VAR = "ANON_PIPELINE_RULES_DIR"
RULES_DIR = Path(os.environ.get(RULES_DIR_ENV_VAR) or SHIPPED_RULES_DIR)
BLACKLIST = load_rule_set(RULES_DIR / "blacklist.yaml")
WHITELIST = load_rule_set(RULES_DIR / "whitelist.yaml")
