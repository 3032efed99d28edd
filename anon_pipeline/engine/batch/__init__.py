"""A batch's steps, as the CLI runs them in a row and the Dagster assets one by one
(`pipeline`); when a batch in incoming/ is ready (`arrivals`); stage-1 packages from a
hospital (`package`); which batch holds each instance (`released_index`). Imports the
layers below it, never `release`."""
