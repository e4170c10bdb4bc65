"""The prediction service: a FastAPI app over a model bundle, served by Lambda through Mangum.

The serving path (``p300_serving.app``, ``p300_serving.model``) imports neither MLflow nor
scikit-learn, so a cold start stays under a second; bundles are built on the ops side
(`p300_ops.services.model_bundles`), at release time.
"""
