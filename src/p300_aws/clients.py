"""The Lambda functions' AWS clients: botocore's, from one session, the rarely used ones lazily.

`client` returns what ``boto3.client`` would, without importing boto3 and s3transfer (~12 ms of
each cold start; nothing here uses boto3's S3 transfer methods). Creating a client loads its
service model, 10-20 ms of CPU each (`bench/bench_lambda_init.py`): a `LazyClient` creates its
client at first use, so one that only an alert uses (SNS) does not cost every cold start.
"""

import functools

import botocore.session


def client(service_name: str, **options):
    """A client of ``service_name`` (e.g. ``"s3"``); ``options`` as for `boto3.client`
    (``config``, ``region_name``, ``endpoint_url``, ...)."""
    return _session().create_client(service_name, **options)


@functools.cache
def _session() -> botocore.session.Session:
    # Region, credentials and AWS_ENDPOINT_URL come from the environment, as boto3's would.
    return botocore.session.get_session()


class LazyClient:
    """Stands for ``client(service_name, **options)``, created at its first attribute use.

    Parameters
    ----------
    service_name : str
        E.g. ``"sns"``.
    **options
        Passed to `client`.
    """

    def __init__(self, service_name: str, **options):
        self.service_name = service_name
        self.options = options

    @functools.cached_property
    def client(self):
        """The client, created on first access."""
        return client(self.service_name, **self.options)

    def __getattr__(self, name: str):
        # Only called for names the instance lacks: the client's operations and attributes.
        return getattr(self.client, name)

    def __repr__(self) -> str:
        return f"LazyClient({self.service_name!r})"
