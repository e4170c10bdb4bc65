"""Published Lambda versions and aliases in the cloud state: captured when an API call changes
them, restored after the stack is deployed again.

A version's record is LocalStack's own `FunctionVersion` (configuration, code and layers). The
code and layer archives it points at live in LocalStack's internal bucket
(``awslambda-<region>-tasks``), which durable S3 keeps: a restored version runs the very same
bytes. An alias's record holds the alias (its version and routing weights, its description), its
resource policy and its provisioned concurrency.

Restoring touches only functions the deploy left without some alias they had: aliases a stack
manages come back with the deploy itself. For such a function every recorded version missing now
is put back under its number (its code checked present, with the recorded size), then each
missing alias whose versions are all there, with its policy and provisioned concurrency.

Each deploy after a restart uploads the code of every function and layer again. Once restored,
the archives in the internal bucket that no live function or layer version and no recorded
version uses are deleted (`collect_archives`), or each restart would leave a copy behind.
"""

import dataclasses
import io
import logging
import pickle

from localstack import config
from localstack.aws.api.lambda_ import State
from localstack.aws.connect import connect_to
from localstack.constants import AWS_REGION_US_EAST_1
from localstack.services.lambda_.invocation.lambda_models import (
    Function,
    FunctionVersion,
    S3Code,
    VersionState,
)
from localstack.services.lambda_.invocation.models import lambda_stores
from localstack.services.plugins import SERVICE_PLUGINS

from p300_localstack.durable_s3.capture import find_bucket
from p300_localstack.durable_s3.journal import Record

from .recorder import Recorder, loaded, record
from .schema import CloudState

LOG = logging.getLogger(__name__)
VERSION_KIND, ALIAS_KIND = "lambda_version", "lambda_alias"
#: How long a restored version may take to become Active, in s.
VERSION_START_TIMEOUT_S = 120.0


def capture_version(account_id: str, region: str, function: str, version: str) -> Record:
    fn = _function(account_id, region, function)
    found = fn.versions.get(version) if fn else None
    if found is not None and found.config.state.state == State.Deleting:
        found = None
    return Record(VERSION_KIND, (account_id, region, function, version), _dumps(found))


def capture_alias(account_id: str, region: str, function: str, alias: str) -> Record:
    fn = _function(account_id, region, function)
    found = fn.aliases.get(alias) if fn else None
    state = None
    if found is not None:
        state = {
            "alias": found,
            "policy": fn.permissions.get(alias),
            "provisioned": fn.provisioned_concurrency_configs.get(alias),
        }
    return record(ALIAS_KIND, (account_id, region, function, alias), state)


def forget_function(state: CloudState, account_id: str, region: str, function: str) -> list:
    """Deletion records of every version and alias recorded for a deleted function."""
    owner = (account_id, region, function)
    return [
        Record(found.kind, found.ident, None)
        for kind in (VERSION_KIND, ALIAS_KIND)
        for found in state.of_kind(kind)
        if tuple(found.ident[:3]) == owner
    ]


def restore(recorder: Recorder, previous: CloudState) -> list[dict]:
    """Put back the versions and aliases of `previous` the deploy did not re-create; one entry
    per function that had aliases (see the module docstring)."""
    versions: dict[tuple, dict[str, Record]] = {}
    for found in previous.of_kind(VERSION_KIND):
        versions.setdefault(tuple(found.ident[:3]), {})[found.ident[3]] = found
    aliases: dict[tuple, list[Record]] = {}
    for found in previous.of_kind(ALIAS_KIND):
        aliases.setdefault(tuple(found.ident[:3]), []).append(found)
    return [
        _restore_function(owner, versions.get(owner, {}), records)
        for owner, records in aliases.items()
    ]


def _restore_function(owner: tuple, versions: dict[str, Record], alias_records: list) -> dict:
    account_id, region, name = owner
    entry = {"function": name, "account": account_id, "region": region, "aliases": []}
    fn = _function(account_id, region, name)
    if fn is None:
        entry["status"] = "not deployed"
        return entry
    missing = [r for r in alias_records if r.ident[3] not in fn.aliases]
    if not missing:
        entry["status"] = "deployed with the stack"
        entry["aliases"] = [{"alias": r.ident[3], "status": "deployed"} for r in alias_records]
        return entry
    entry["status"] = "restored"
    problems = {}
    for number in sorted(versions, key=int):
        problem = _restore_version(fn, loaded_version(versions[number]))
        if problem:
            problems[number] = problem
    numbers = [int(v) for v in fn.versions if v.isdigit()]
    fn.next_version = max([fn.next_version, *(n + 1 for n in numbers)])
    descriptions = {
        number: loaded_version(found).config.description for number, found in versions.items()
    }
    for found in missing:
        entry["aliases"].append(_restore_alias(fn, loaded(found), problems, descriptions))
    return entry


def _restore_version(fn: Function, version: FunctionVersion) -> str | None:
    """Put `version` back under its number and start it; None, or why it cannot be."""
    number = version.id.qualifier
    present = fn.versions.get(number)
    if present is not None:
        if present.config.code.code_sha256 != version.config.code.code_sha256:
            return f"version {number} exists with other code (published again since the restart)"
        return None
    for code, what in [(version.config.code, "code")] + [
        (layer.code, f"layer {layer.layer_version_arn}") for layer in version.config.layers
    ]:
        if problem := _archive_problem(code):
            return f"its {what} archive {problem}"
    pending = VersionState(state=State.Pending, code=None, reason="Restored after a restart")
    version = dataclasses.replace(
        version, config=dataclasses.replace(version.config, state=pending)
    )
    fn.versions[number] = version
    try:
        _lambda_service().create_function_version(version).result(VERSION_START_TIMEOUT_S)
    except Exception as error:
        fn.versions.pop(number, None)
        LOG.exception("cloud state: restoring %s failed", version.qualified_arn)
        return f"it did not start again ({error})"
    return None


def _restore_alias(
    fn: Function, state: dict, problems: dict[str, str], descriptions: dict[str, str]
) -> dict:
    """Put an alias back once every version it routes to is there; its entry in the report,
    with the recorded description of each of its versions."""
    alias = state["alias"]
    routing = alias.routing_configuration
    weights = dict(routing.version_weights) if routing else {}
    targets = [alias.function_version, *weights]
    result = {
        "alias": alias.name,
        "version": alias.function_version,
        "weights": {alias.function_version: round(1.0 - sum(weights.values()), 6), **weights},
        "descriptions": {v: descriptions[v] for v in targets if v in descriptions},
        "alias_description": alias.description,
    }
    lost = [v for v in targets if v not in fn.versions]
    if lost:
        reasons = "; ".join(f"version {v}: {problems.get(v, 'not recorded')}" for v in lost)
        return result | {"status": "not restored", "reason": reasons}
    fn.aliases[alias.name] = alias
    if state["policy"] is not None:
        fn.permissions[alias.name] = state["policy"]
    provisioned = state["provisioned"]
    if provisioned is not None:
        fn.provisioned_concurrency_configs[alias.name] = provisioned
        manager = _lambda_service().get_lambda_version_manager(
            fn.versions[alias.function_version].id.qualified_arn()
        )
        manager.update_provisioned_concurrency_config(provisioned.provisioned_concurrent_executions)
        result["provisioned_concurrency"] = provisioned.provisioned_concurrent_executions
    return result | {"status": "restored"}


def collect_archives(state: CloudState) -> dict:
    """Delete the archives of LocalStack's internal ``awslambda-<region>-tasks`` buckets that no
    live function or layer version and no version recorded in `state` uses; returns how many
    objects and bytes were deleted."""
    keep = {key for _, _, store in lambda_stores.iter_stores() for key in _live_archives(store)}
    for found in state.of_kind(VERSION_KIND):
        keep |= _archives(loaded_version(found))
    s3 = connect_to(
        aws_access_key_id=config.INTERNAL_RESOURCE_ACCOUNT, region_name=AWS_REGION_US_EAST_1
    ).s3
    deleted = {"objects": 0, "bytes": 0}
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        if not (name.startswith("awslambda-") and name.endswith("-tasks")):
            continue
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for stored in page.get("Contents", []):
                if (name, stored["Key"]) not in keep:
                    s3.delete_object(Bucket=name, Key=stored["Key"])
                    deleted["objects"] += 1
                    deleted["bytes"] += stored["Size"]
    return deleted


def _live_archives(store) -> set[tuple[str, str]]:
    keys = {key for fn in store.functions.values() for version in fn.versions.values()
            for key in _archives(version)}  # fmt: skip
    for layer in store.layers.values():
        keys |= {_archive(v.code) for v in layer.layer_versions.values() if _archive(v.code)}
    return keys


def _archives(version: FunctionVersion) -> set[tuple[str, str]]:
    codes = [version.config.code, *(layer.code for layer in version.config.layers)]
    return {key for code in codes if (key := _archive(code))}


def _archive(code) -> tuple[str, str] | None:
    """(bucket, key) of an archive in the internal bucket (None for image or hot-reload code)."""
    return (code.s3_bucket, code.s3_key) if isinstance(code, S3Code) else None


def _archive_problem(code: S3Code) -> str | None:
    """Why a code archive cannot be used (missing, or not its recorded size), else None."""
    where = f"s3://{code.s3_bucket}/{code.s3_key}"
    bucket = find_bucket(code.s3_bucket, config.INTERNAL_RESOURCE_ACCOUNT)
    stored = None if bucket is None else bucket.objects.get(code.s3_key)
    if stored is None:
        return f"{where} is missing"
    if stored.size != code.code_size:
        return f"{where} has {stored.size} bytes, not the {code.code_size} recorded"
    return None


def loaded_version(found: Record) -> FunctionVersion:
    return pickle.loads(found.payload)


def _dumps(version: FunctionVersion | None) -> bytes | None:
    """A version pickled, its archives' disk locks left out (see `_CodePickler`)."""
    if version is None:
        return None
    buffer = io.BytesIO()
    _CodePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(version)
    return buffer.getvalue()


_CODE_FIELDS = tuple(f.name for f in dataclasses.fields(S3Code) if f.name != "_disk_lock")


class _CodePickler(pickle.Pickler):
    """Pickles `S3Code` without its lock (an RLock cannot be pickled; a new one is made)."""

    def reducer_override(self, obj):
        if type(obj) is S3Code:
            return _s3_code, (tuple(getattr(obj, name) for name in _CODE_FIELDS),)
        return NotImplemented


def _s3_code(values: tuple) -> S3Code:
    return S3Code(**dict(zip(_CODE_FIELDS, values, strict=True)))


def _function(account_id: str, region: str, name: str) -> Function | None:
    return lambda_stores[account_id][region].functions.get(name)


def _lambda_service():
    return SERVICE_PLUGINS.get_service("lambda")._provider.lambda_service  # no public accessor
