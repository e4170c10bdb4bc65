"""The local emulated cloud: LocalStack, MLflow (and PostgreSQL), and the deployed CDK app."""
