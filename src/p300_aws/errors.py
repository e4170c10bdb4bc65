"""Errors the pipeline's Lambdas raise on purpose.

Step Functions matches a Lambda error by the exception's class name, so these names are part of
the pipeline contract: the state machines retry ``TransientError`` and report the others.
"""


class TransientError(RuntimeError):
    """A failure that is likely to pass when retried (throttling, a 5xx, a dropped connection)."""


class MlflowUnavailableError(RuntimeError):
    """The MLflow tracking server did not answer after every retry of the configured policy."""


class BadEventError(ValueError):
    """A Lambda event that does not have the shape the pipeline contract gives it."""


class BadKeyError(ValueError):
    """An S3 key from which no subject/session can be read."""


class VerificationError(RuntimeError):
    """An object written to S3 does not read back as written (version or sha256 differ)."""


class MissingObjectError(LookupError):
    """An S3 object (or the asked version of it) does not exist."""
