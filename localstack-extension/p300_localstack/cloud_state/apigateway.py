"""API Gateway ids and API keys in the cloud state.

**Ids.** The id LocalStack gives a new REST API or usage plan is recorded under its name; when a
resource of that name is created again (the deploy after a restart), it gets the recorded id
back, unless another resource holds it. The template needs nothing LocalStack-specific for that
(no ``_custom_id_`` tag). Ids come from moto's id generator, which asks each registered id source
before drawing a random id.

**API keys.** Each key's whole state is recorded: id, value, name, description, enabled, customer
id, dates, tags and the usage plans it belongs to. A key created without a value under the name
of a recorded key that no live key holds (the stack's key, created again by the deploy) gets that
key's value, id and creation date back: a collector's key keeps working. After the deploy, a
recorded key that does not exist (one made through the API) is created again with its value and
id, and put back in its usage plans. Rotating a key (create a new one, move it into the plans,
delete the old) is therefore the only thing that changes a key's value.
"""

from localstack.utils.id_generator import localstack_id_manager
from localstack.utils.patch import Patch
from moto.apigateway.models import APIGatewayBackend, ApiKey, UsagePlanKey, apigateway_backends
from moto.utilities.id_generator import IdSourceContext

from p300_localstack.durable_s3.journal import Record

from .recorder import Recorder, loaded, record
from .schema import CloudState

ID_KIND, KEY_KIND = "resource_id", "api_key"
SERVICE = "apigateway"
#: moto's resource type of each resource whose id is kept, and where its backend holds them.
ID_RESOURCES = {"rest_api": "apis", "usage_plan": "usage_plans"}


def capture_id(account_id: str, region: str, resource: str, name: str, new_id: str) -> Record:
    return Record(ID_KIND, (account_id, region, SERVICE, resource, name), new_id.encode())


def capture_key(account_id: str, region: str, key_id: str) -> Record:
    backend = apigateway_backends[account_id][region]
    key = backend.keys.get(key_id)
    state = None
    if key is not None:
        plans = [plan for plan, keys in backend.usage_plan_keys.items() if key_id in keys]
        state = {**key.to_json(), "usagePlanIds": plans}
    return record(KEY_KIND, (account_id, region, key_id), state)


class KeysAndIds:
    """The id source and the key-value restore, reading the live cloud state."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    def install(self) -> list[Patch]:
        localstack_id_manager.add_id_source(self.recorded_id)
        keys_and_ids = self

        def create_api_key(original, self: APIGatewayBackend, payload: dict) -> ApiKey:
            reused = None
            if not payload.get("value") and payload.get("name"):
                reused = keys_and_ids.reusable_key(self, payload["name"])
            if reused is not None:
                payload = {**payload, "value": reused["value"]}
            key = original(self, payload)
            if reused is not None:
                key.created_date = reused["createdDate"]
            return key

        return [Patch.function(APIGatewayBackend.create_api_key, create_api_key)]

    def recorded_id(self, context: IdSourceContext) -> str | None:
        """moto id source: the recorded id of a REST API or usage plan of this name, or of the
        key with this value, when no live resource holds it."""
        identifier = context.get("resource_identifier")
        if identifier is None or identifier.service != SERVICE or not identifier.name:
            return None
        account_id, region = identifier.account_id, identifier.region
        backend = apigateway_backends[account_id][region]
        if identifier.resource == "api_key":
            found = [
                data
                for data in _keys(self.recorder.state, account_id, region)
                if data["value"] == identifier.name and data["id"] not in backend.keys
            ]
            return found[-1]["id"] if found else None
        held = ID_RESOURCES.get(identifier.resource)
        if held is None:
            return None
        ident = (account_id, region, SERVICE, identifier.resource, identifier.name)
        found = self.recorder.state.get(ID_KIND, ident)
        recorded = found[0].payload.decode() if found else None
        return recorded if recorded and recorded not in getattr(backend, held) else None

    def reusable_key(self, backend: APIGatewayBackend, name: str) -> dict | None:
        """The newest recorded key named `name` that no live key holds, or None."""
        found = [
            data
            for data in _keys(self.recorder.state, backend.account_id, backend.region_name)
            if data.get("name") == name and data["id"] not in backend.keys
        ]
        return max(found, key=lambda data: data["createdDate"]) if found else None


def restore_keys(recorder: Recorder, previous: CloudState) -> list[dict]:
    """Create again each key of `previous` that does not exist after the deploy, with its id
    and value, in the usage plans of its record that exist; one entry per recorded key."""
    entries = []
    for found in previous.of_kind(KEY_KIND):
        account_id, region, key_id = found.ident
        data = loaded(found)
        backend = apigateway_backends[account_id][region]
        entry = {"id": key_id, "name": data.get("name"), "account": account_id, "region": region}
        if key_id in backend.keys:
            entries.append(entry | {"status": "kept its value"})
            continue
        key = _create_key(backend, data)
        plans = [plan for plan in data.get("usagePlanIds", []) if plan in backend.usage_plans]
        for plan in plans:
            backend.usage_plan_keys.setdefault(plan, {})[key.id] = UsagePlanKey(
                plan_id=key.id, plan_type="API_KEY", name=key.name, value=key.value
            )
        recorder.commit(lambda a=account_id, r=region, k=key_id: [capture_key(a, r, k)])
        entries.append(entry | {"status": "created again", "usage_plans": plans})
    return entries


def restored_ids(previous: CloudState, recorder: Recorder) -> list[dict]:
    """Each recorded REST API or usage plan id, and whether the live resource of that name
    has it."""
    entries = []
    for found in previous.of_kind(ID_KIND):
        account_id, region, _, resource, name = found.ident
        recorded = found.payload.decode()
        live = recorder.state.get(ID_KIND, found.ident)
        now = live[0].payload.decode() if live else None
        held = getattr(apigateway_backends[account_id][region], ID_RESOURCES[resource])
        entries.append(
            {"resource": resource, "name": name, "id": now, "previous_id": recorded,
             "kept": now == recorded and now in held}
        )  # fmt: skip
    return entries


def _create_key(backend: APIGatewayBackend, data: dict) -> ApiKey:
    key = ApiKey(
        api_key_id=data["id"],
        name=data.get("name"),
        description=data.get("description"),
        enabled=data.get("enabled", False),
        value=data["value"],
        stageKeys=data.get("stageKeys"),
        tags=data.get("tags"),
        customerId=data.get("customerId"),
    )
    key.created_date = data["createdDate"]
    key.last_updated_date = data.get("lastUpdatedDate", key.created_date)
    backend.keys[key.id] = key
    return key


def _keys(state: CloudState, account_id: str, region: str) -> list[dict]:
    return [
        loaded(found)
        for found in state.of_kind(KEY_KIND)
        if tuple(found.ident[:2]) == (account_id, region)
    ]
