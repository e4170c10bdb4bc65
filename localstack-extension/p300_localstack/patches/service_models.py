"""Internal clients share one botocore service model per service (memory leak of the in-memory
client mode, LocalStack 2026.3.0).

Every internal boto client gets a service model of its own, and Step Functions makes a new client
for each task it runs (it assumes the state machine's role first: new credentials, a client
LocalStack's client cache has not seen). Handed to the gateway in-process
(`in_memory_internal_clients`), each request carries its client's model, and LocalStack's request
parser and response serializer caches (`create_parser`, `create_serializer`, unbounded
`functools.cache`s keyed by the model object) keep a new parser, with its own operation models and
URL map, for every one: 0.5 MB per subject processed by the backfill (docs/scaling.md). Over HTTP
requests are parsed with LocalStack's one model per service, so upstream's default mode does not
leak. Here the clients built from the same service description share one model, as the caches
assume.
"""

import threading

from botocore.client import ClientCreator
from botocore.model import ServiceModel
from localstack.utils.patch import Patch


def internal_clients_share_service_models() -> list[Patch]:
    """Clients whose service description is the same (loaded once per botocore loader) get one
    ServiceModel object, so the parser and serializer caches hold one entry per service."""
    # id(description) -> (description, model); the description is kept so its id stays unique.
    shared: dict[int, tuple[dict, ServiceModel]] = {}
    lock = threading.Lock()

    def load_service_model(self, service_name, api_version=None):
        description = self._loader.load_service_model(
            service_name, "service-2", api_version=api_version
        )
        with lock:
            _, model = shared.get(id(description), (None, None))
            if model is None or model.service_name != service_name:
                model = ServiceModel(description, service_name=service_name)
                shared[id(description)] = (description, model)
        return model

    return [
        Patch.function(ClientCreator._load_service_model, load_service_model, pass_target=False)
    ]
