import pytest

from p300.checks import check_choice, check_positive, check_range


@pytest.mark.parametrize("value", [1, 1.5, 2])
def test_check_range_accepts_values_within_bounds(value):
    check_range("gain", value, low=1, high=2)


@pytest.mark.parametrize("value", [0.99, 2.01])
def test_check_range_names_parameter_bounds_and_value(value):
    with pytest.raises(ValueError, match=rf"gain must be between 1 and 2, got {value}"):
        check_range("gain", value, low=1, high=2)


def test_check_choice_names_the_choices():
    check_choice("alias", "champion", ("champion", "challenger"))
    with pytest.raises(
        ValueError, match=r"alias must be one of \('champion', 'challenger'\), got 'x'"
    ):
        check_choice("alias", "x", ("champion", "challenger"))


@pytest.mark.parametrize("value", [0, -1, "3", True, None])
def test_check_positive_refuses_non_positive_and_non_numbers(value):
    with pytest.raises(ValueError, match=r"l_freq must be a number > 0, got"):
        check_positive("l_freq", value)
