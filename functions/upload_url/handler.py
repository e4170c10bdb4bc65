"""Lambda ``p300-upload-url``: the upload API's requests → presigned landing-zone URLs.

Signature version 4 everywhere: AWS refuses version 2 presigned URLs in newer regions.
"""

from p300_aws.cold_start import gc_paused

# Imports and clients without the garbage collector: see p300_aws.cold_start.
with gc_paused():
    from botocore.config import Config

    from p300_aws.clients import client
    from p300_aws.upload_routes import upload_app
    from p300_aws.uploads import Uploads

    APP = upload_app(Uploads(client("s3", config=Config(signature_version="s3v4"))))


def lambda_handler(event, context):
    return APP.resolve(event, context)
