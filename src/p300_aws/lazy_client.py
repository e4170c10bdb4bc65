"""A boto3 client created when first used: for the clients only a Lambda's rare path needs.

Creating a client loads its service model: 10-20 ms of CPU each (`bench/bench_lambda_init.py`).
A client that only an alert uses (SNS) need not cost every cold start of the function.
"""

import functools

import boto3


class LazyClient:
    """Stands for ``boto3.client(service_name, **options)``, created at its first attribute use.

    Parameters
    ----------
    service_name : str
        As for `boto3.client`, e.g. ``"sns"``.
    **options
        Passed to `boto3.client`.
    """

    def __init__(self, service_name: str, **options):
        self.service_name = service_name
        self.options = options

    @functools.cached_property
    def client(self):
        """The boto3 client, created on first access."""
        return boto3.client(self.service_name, **self.options)

    def __getattr__(self, name: str):
        # Only called for names the instance lacks: the client's operations and attributes.
        return getattr(self.client, name)

    def __repr__(self) -> str:
        return f"LazyClient({self.service_name!r})"
