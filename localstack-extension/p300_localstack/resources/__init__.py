"""CloudFormation resource types LocalStack 2026.3.0 community does not provide."""
