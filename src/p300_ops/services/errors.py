"""The error every ops service raises for a request it cannot do as asked."""


class ServiceError(RuntimeError):
    """A request the ops library cannot carry out; the message is written for the user."""
