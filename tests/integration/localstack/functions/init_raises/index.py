"""A function whose module raises while it is imported (during init)."""

raise RuntimeError("cannot start: missing configuration")


def handler(event, context):
    return "never reached"
