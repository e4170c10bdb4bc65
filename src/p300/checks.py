"""Input checks shared by the public functions of the platform.

Each raises `ValueError` with a message that names the parameter, what is allowed and the value
received, in one wording everywhere.
"""

from collections.abc import Collection


def check_range(name: str, value: float, *, low: float, high: float) -> None:
    """``low <= value <= high``, else `ValueError` naming ``name`` and the bounds."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value!r}")


def check_choice(name: str, value: object, allowed: Collection) -> None:
    """``value in allowed``, else `ValueError` naming ``name`` and the choices."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


def check_positive(name: str, value: float) -> None:
    """``value`` is a number above 0, else `ValueError` naming ``name``."""
    if isinstance(value, bool) or not (isinstance(value, int | float) and value > 0):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
