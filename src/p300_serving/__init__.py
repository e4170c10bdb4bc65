"""The prediction service: a FastAPI app over a model bundle, served by Lambda through Mangum.

The serving path (``p300_serving.app``, ``p300_serving.model``) imports neither MLflow nor
scikit-learn, so a cold start stays under a second; ``p300_serving.bundle`` builds bundles.
"""
