"""`p300 console`: a local web console over the running cloud — executions drawn as state
graphs, subjects and their ERPs, models, traffic, alerts — read through the same services the
CLI calls (`p300_ops.services`)."""
