# The p300-train function as a container image, for AWS: its code and layers (525 MiB unzipped)
# exceed the 250 MiB a zip function may hold; an image may hold 10 GB.
#
# Built by `cdk deploy -c trainPackaging=image` (infra/constructs/functions.py) with the repository
# as context, of which only the recipes, the core packages and the function's code are sent.
# The build arguments come from layers/manifest.toml, so the image holds exactly what the
# function's layers hold: the same pinned recipes, installed the same way (manylinux x86_64
# wheels for Python 3.13, no dependency resolution), and the core packages copied from src/.
FROM public.ecr.aws/lambda/python:3.13

# Third-party layers of the function, in PYTHONPATH order (e.g. "data scipy ml mlflow").
ARG LAYERS
# The project's own packages (the manifest's core layer), e.g. "p300 p300_aws p300_serving".
ARG CORE_PACKAGES
# The function's code directory under functions/.
ARG FUNCTION_DIR

COPY layers/*.txt /tmp/recipes/
RUN set -eu; \
    for layer in ${LAYERS}; do \
        pip install --no-cache-dir --no-deps --only-binary :all: \
            --target "${LAMBDA_TASK_ROOT}" -r "/tmp/recipes/${layer}.txt"; \
    done; \
    rm -rf /tmp/recipes

COPY src/ /tmp/src/
RUN set -eu; \
    for package in ${CORE_PACKAGES}; do cp -r "/tmp/src/${package}" "${LAMBDA_TASK_ROOT}/"; done; \
    rm -rf /tmp/src
COPY functions/${FUNCTION_DIR}/ ${LAMBDA_TASK_ROOT}/

# Bytecode at build time: the image's file system is read-only at run time.
RUN python -m compileall -q -j 0 --invalidation-mode unchecked-hash "${LAMBDA_TASK_ROOT}"

CMD ["handler.lambda_handler"]
