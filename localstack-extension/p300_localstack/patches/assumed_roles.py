"""Internal clients that assume a role reuse the session for a while (memory leak, LocalStack
2026.3.0).

Step Functions runs every task with a client made by ``connect_to.with_assumed_role``: an STS
AssumeRole call (whose credentials LocalStack's STS store keeps) and then a new boto client for
the new credentials (a new client class with its methods and docstrings, kept by the client
cache's 256 entries). Three or so per subject processed by the backfill: 0.15 MB each
(docs/scaling.md). As an AWS SDK caches assumed-role credentials until they near expiry, the
session for the same role, principal, region, endpoint and config is reused here for
`REUSE_S` (sessions last an hour): the same account and role act, so what a task may do and
which account it acts in are unchanged.
"""

from localstack.aws.connect import ClientFactory
from localstack.utils.patch import Patch

from p300_localstack.expiring_cache import ExpiringCache

#: Seconds an assumed-role session is reused (LocalStack's sessions last 3,600 s by default).
REUSE_S = 600.0
#: Sessions kept at most (one per role, principal, region, endpoint and config in use).
MAX_SESSIONS = 64


def assumed_role_sessions_reused() -> list[Patch]:
    """``with_assumed_role`` answers the same client factory for the same arguments for REUSE_S,
    instead of assuming the role (and building new clients) on every call."""
    sessions = ExpiringCache(max_age_s=REUSE_S, max_entries=MAX_SESSIONS)

    def with_assumed_role(original, self, *, role_arn, service_principal=None,
                          session_name=None, region_name=None, endpoint_url=None,
                          config=None):  # fmt: skip
        # The factory and the config are kept in the value, so their ids stay unique while
        # the key is cached.
        key = (id(self), role_arn, service_principal, session_name, region_name, endpoint_url,
               id(config))  # fmt: skip
        if (cached := sessions.get(key)) is not None:
            return cached[0]
        factory = original(self, role_arn=role_arn, service_principal=service_principal,
                           session_name=session_name, region_name=region_name,
                           endpoint_url=endpoint_url, config=config)  # fmt: skip
        sessions.put(key, (factory, self, config))
        return factory

    return [Patch.function(ClientFactory.with_assumed_role, with_assumed_role)]
