"""One partition per batch folder under incoming/, added by the arrival sensor."""

import dagster as dg

BATCHES = "batch"  # the partitions' name, for the instance's dynamic partition calls
batches = dg.DynamicPartitionsDefinition(name=BATCHES)
