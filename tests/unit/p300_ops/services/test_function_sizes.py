"""Every function fits AWS's limits, measured on the real layer builds (built here when missing:
minutes on a fresh checkout, nothing when `p300 up` or `p300 layers build` already built them)."""

import pytest

from p300_ops.services import layer_builds

MIB = 1_048_576

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def sizes() -> dict[str, layer_builds.FunctionSize]:
    layer_builds.build_all()
    return {row.function: row for row in layer_builds.function_sizes()}


@pytest.mark.parametrize(
    "function", [f for f, package in layer_builds.AWS_PACKAGES.items() if package == "zip"]
)
def test_each_zip_function_is_within_250_mib_with_its_layers(sizes, function):
    row = sizes[function]
    assert row.total_bytes <= layer_builds.SIZE_LIMIT_BYTES, (
        f"{function}: {row.total_bytes / MIB:.1f} MiB (code + layers, unzipped) exceeds AWS's "
        f"250 MiB zip limit: { ({k: round(v / MIB, 1) for k, v in row.layer_bytes.items()}) }"
    )


@pytest.mark.parametrize(
    "function", [f for f, package in layer_builds.AWS_PACKAGES.items() if package == "image"]
)
def test_each_image_function_is_within_10_gib_and_really_needs_an_image(sizes, function):
    row = sizes[function]
    assert layer_builds.SIZE_LIMIT_BYTES < row.total_bytes <= layer_builds.IMAGE_SIZE_LIMIT_BYTES
