"""`python -m anon_pipeline.cli`: the same as `anon-pipeline`."""

import sys

from anon_pipeline.cli import main

sys.exit(main())
