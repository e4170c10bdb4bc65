"""Fixes for LocalStack 2026.3.0 bugs and speed-ups of its hot path, applied when LocalStack starts.

Each fix is one small function named after the bug it fixes (see `FIXES`). Set
``P300_DISABLED_PATCHES`` to a comma-separated list of those names, or to ``all``, to run
LocalStack without them (the tests do, to show each bug and its fix).
"""

import logging
import os
from collections.abc import Callable, Mapping

from localstack.runtime import hooks
from localstack.utils.patch import Patch

from p300_localstack.patches.apigateway_binary import binary_body_skips_json_validation
from p300_localstack.patches.assumed_roles import assumed_role_sessions_reused
from p300_localstack.patches.authorizers import lambda_token_authorizers
from p300_localstack.patches.change_set_ref import ref_to_updated_resource_unchanged
from p300_localstack.patches.cloudwatch_store import metric_data_one_transaction
from p300_localstack.patches.distributed_map import (
    result_writer_parameters_read_the_state_input,
    result_writer_writes_results,
)
from p300_localstack.patches.events_rules import disabled_rule_skips_events
from p300_localstack.patches.internal_clients import in_memory_internal_clients
from p300_localstack.patches.lambda_alias import (
    cloudformation_alias_routing_map,
    cloudformation_alias_update,
    update_alias_routing_target,
)
from p300_localstack.patches.lambda_telemetry import batched_lambda_telemetry
from p300_localstack.patches.s3_memory import s3_contents_evicted_from_memory
from p300_localstack.patches.service_models import internal_clients_share_service_models

LOG = logging.getLogger(__name__)
DISABLED_VARIABLE = "P300_DISABLED_PATCHES"

#: name -> function returning the patches that fix that bug.
FIXES: dict[str, Callable[[], list[Patch]]] = {
    "cloudformation_alias_routing_map": cloudformation_alias_routing_map,
    "cloudformation_alias_update": cloudformation_alias_update,
    "update_alias_routing_target": update_alias_routing_target,
    "ref_to_updated_resource_unchanged": ref_to_updated_resource_unchanged,
    "disabled_rule_skips_events": disabled_rule_skips_events,
    "lambda_token_authorizers": lambda_token_authorizers,
    "result_writer_parameters_read_the_state_input": result_writer_parameters_read_the_state_input,
    "result_writer_writes_results": result_writer_writes_results,
    "binary_body_skips_json_validation": binary_body_skips_json_validation,
    "batched_lambda_telemetry": batched_lambda_telemetry,
    "in_memory_internal_clients": in_memory_internal_clients,
    "metric_data_one_transaction": metric_data_one_transaction,
    "internal_clients_share_service_models": internal_clients_share_service_models,
    "s3_contents_evicted_from_memory": s3_contents_evicted_from_memory,
    "assumed_role_sessions_reused": assumed_role_sessions_reused,
}


def disabled_fixes(environ: Mapping[str, str]) -> set[str]:
    """Names of the fixes switched off by ``P300_DISABLED_PATCHES`` ('all' = every fix)."""
    names = {name.strip() for name in environ.get(DISABLED_VARIABLE, "").split(",") if name.strip()}
    if "all" in names:
        return set(FIXES)
    unknown = names - set(FIXES)
    if unknown:
        raise ValueError(
            f"{DISABLED_VARIABLE} must name fixes among {sorted(FIXES)} or be 'all', "
            f"got unknown {sorted(unknown)}"
        )
    return names


def apply_fixes(environ: Mapping[str, str]) -> list[str]:
    """Apply every fix not disabled in `environ`; return the names applied."""
    disabled = disabled_fixes(environ)
    applied = []
    for name, make_patches in FIXES.items():
        if name in disabled:
            continue
        for patch in make_patches():
            patch.apply()
        applied.append(name)
    return applied


@hooks.on_infra_start()
def p300_apply_patches() -> None:
    """LocalStack start hook: apply our fixes before any service loads."""
    applied = apply_fixes(os.environ)
    LOG.info("p300 patches applied: %s", ", ".join(applied) or "none")
