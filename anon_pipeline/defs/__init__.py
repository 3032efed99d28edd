"""The Dagster layer: thin definitions over the engine (partitions, assets, checks, sensors)."""
