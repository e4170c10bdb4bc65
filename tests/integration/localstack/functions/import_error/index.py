"""A function whose module cannot be imported: it needs a package that is not installed."""

import p300_package_that_does_not_exist  # noqa: F401


def handler(event, context):
    return "never reached"
