"""Lambda logs and invocation metrics delivered to CloudWatch off the request path."""
