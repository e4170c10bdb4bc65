"""Adapters between the science core and AWS services (S3, Step Functions) and MLflow."""
