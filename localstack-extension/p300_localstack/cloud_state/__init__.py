"""The cloud state: what a LocalStack restart loses beyond S3 objects, kept across restarts.

REST API and usage plan ids, API keys, published Lambda versions and aliases, Step Functions
executions and CloudWatch alarm states (see schema.py for the records). schema.py, recorder.py,
history.py and touched.py are pure (no LocalStack imports); the others run inside LocalStack;
hook.py is the plux entry point.
"""
