"""Docker-free Lambda for LocalStack: execution environments are subprocesses on the host."""
