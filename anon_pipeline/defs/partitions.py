"""One partition per batch folder under incoming/, added by the arrival sensor."""

import dagster as dg

batches = dg.DynamicPartitionsDefinition(name="batch")
