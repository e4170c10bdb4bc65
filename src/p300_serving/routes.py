"""The public routes of the prediction API and the model alias each serves.

The serving app strips these prefixes (``/predict-champion/predict`` is its ``/predict``) and
reports the alias; the AWS side (`p300_aws.names`) takes them from here, so the API Gateway
resources, the Lambda aliases and the app agree without the app importing the AWS package.
"""

CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
#: Route prefix (one API Gateway resource each) → the alias it serves.
PREDICTION_ROUTES = {"predict-champion": CHAMPION_ALIAS, "predict-challenger": CHALLENGER_ALIAS}
