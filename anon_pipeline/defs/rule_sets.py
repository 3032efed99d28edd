"""The rule sets in force, loaded when the code location loads.

Their versions are the assets' code versions, so the UI marks partitions made with
other rules as stale. A broken rule file stops the code location from loading, with
the error naming the file, line and entry.
"""

import os
from pathlib import Path

from anon_pipeline.defs.resources import ROOT_ENV_VAR
from anon_pipeline.engine.disk import DataRoot
from anon_pipeline.engine.rules.rule_set import SHIPPED_RULES_DIR, load_rule_set

RULES_DIR_ENV_VAR = "ANON_PIPELINE_RULES_DIR"
RULES_DIR = Path(os.environ.get(RULES_DIR_ENV_VAR) or SHIPPED_RULES_DIR)
# Reviewers' decisions (anon-pipeline review decide) live in the data root's secure zone;
# reload the code location after a decision to see which batches became stale.
REVIEWED_RULES = DataRoot(Path(os.environ.get(ROOT_ENV_VAR) or "data").resolve()).reviewed_rules
BLACKLIST = load_rule_set(RULES_DIR / "blacklist.yaml")
WHITELIST = load_rule_set(RULES_DIR / "whitelist.yaml", reviewed=REVIEWED_RULES)
