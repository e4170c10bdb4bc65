"""The public routes of the prediction API and the model alias each serves.

The serving app strips these prefixes (``/predict-champion/predict`` is its ``/predict``) and
reports the alias; the AWS side (`p300_aws.names`) takes them from here, so the API Gateway
resources, the Lambda aliases and the app agree without the app importing the AWS package.

Under each prefix, ``/predict``, ``/predict/raw``, ``/decode`` and ``/model`` answer with the
population model of the alias, and ``SUBJECT_PATH`` + the same paths (and ``/health``) with the
model of one subject of one study (`p300_serving.subject_models`).
"""

CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
#: Route prefix (one API Gateway resource each) → the alias it serves.
PREDICTION_ROUTES = {"predict-champion": CHAMPION_ALIAS, "predict-challenger": CHALLENGER_ALIAS}
#: The path of one subject's model under a route prefix.
SUBJECT_PATH = "/studies/{study}/subjects/{subject}"
#: A study name (as `p300.studies.NAME_PATTERN`) and a subject id (as
#: `p300_aws.keys.ID_PATTERN`): both end up in object keys, so nothing else is accepted.
STUDY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
SUBJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$"
