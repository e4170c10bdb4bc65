"""Errors the console turns into pages."""

from p300_ops.services.errors import ServiceError


class PageNotFound(ServiceError):
    """The thing a URL names (an execution, a subject, a run's artifact) does not exist; the
    message names it."""


class BadParameter(ServiceError):
    """A query parameter the page cannot take; the message names it, the allowed values and
    the value received."""
