"""P300 science core: data contract, synthetic sessions, preprocessing, features, models, decoding.

Pure Python and scientific libraries only: nothing here imports boto3 or talks to a network.
"""
