"""Lambda entry point of the prediction API: the FastAPI app behind API Gateway, via Mangum.

The population model bundle named by ``P300_MODEL_BUNDLE`` is loaded once, at init; the subjects'
own models are read from the serving registry in S3 (``P300_MODEL_SERVING_BUCKET``) when asked.
"""

from p300_aws.cold_start import gc_paused

# Imports and clients without the garbage collector: see p300_aws.cold_start.
with gc_paused():
    from mangum import Mangum

    from p300_aws.serving_registry import S3SubjectModels
    from p300_serving.app import create_app_from_env

    app = create_app_from_env(subject_models=S3SubjectModels.from_env())
    lambda_handler = Mangum(app, lifespan="off")
