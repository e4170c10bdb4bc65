"""Subject releases that need no cloud: their addresses and their input checks (the releases
themselves: tests/integration/calibration/test_subject_serving_e2e.py)."""

import pytest

from p300_ops.services import subject_release


def test_a_subjects_route_is_under_the_alias_route():
    url = subject_release.subject_route_url("http://h/prod", "challenger", "speller", "S01")
    assert url == "http://h/prod/predict-challenger/studies/speller/subjects/S01"


@pytest.mark.parametrize(
    ("study", "subject", "alias", "match"),
    [
        ("Speller", "S01", "champion", r"study must be 1–64 lowercase letters.*got 'Speller'"),
        ("speller", "S_01", "champion", r"subject must be 1–64 letters.*got 'S_01'"),
        (
            "speller",
            "S01",
            "prod",
            r"alias must be one of \('champion', 'challenger'\), got 'prod'",
        ),
    ],
)
def test_deploy_checks_its_target_before_touching_anything(study, subject, alias, match):
    with pytest.raises(ValueError, match=match):
        subject_release.deploy_subject_model(None, None, None, "sqlite://", study, subject, alias)


@pytest.mark.parametrize("steps", [(), (0.5,), (0.5, 0.1, 1.0)])
def test_promote_refuses_bad_steps_before_touching_anything(steps):
    with pytest.raises(ValueError, match=r"steps must be increasing weights in \(0, 1\]"):
        subject_release.promote_subject(None, "sqlite://", "speller", "S01",
                                        base_url="http://unused", steps=steps)  # fmt: skip


@pytest.mark.parametrize(
    "call",
    [
        lambda: subject_release.rollback_subject(None, "sqlite://", "speller", "../x"),
        lambda: subject_release.subject_traffic(None, "speller", "../x"),
    ],
)
def test_rollback_and_traffic_check_the_subject(call):
    with pytest.raises(ValueError, match=r"subject must be 1–64 letters.*got '../x'"):
        call()
