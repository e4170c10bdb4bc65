"""Lambda entry point of the prediction API: the FastAPI app behind API Gateway, via Mangum.

The model bundle named by ``P300_MODEL_BUNDLE`` is loaded once, at init.
"""

from mangum import Mangum

from p300_serving.app import create_app_from_env

app = create_app_from_env()
lambda_handler = Mangum(app, lifespan="off")
