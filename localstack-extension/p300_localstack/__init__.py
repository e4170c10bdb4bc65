"""LocalStack extension of the P300 platform (runs inside the LocalStack process)."""
