"""The pipeline commands of the `p300` CLI: upload, generate, executions, subjects, train, import.

Each module holds one command (or a small group) plus the pure functions it formats with; they
reach the running local cloud through `common.cloud_clients`.
"""
