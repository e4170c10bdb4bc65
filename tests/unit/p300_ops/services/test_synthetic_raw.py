import pytest

from p300_ops.services.synthetic_raw import write_raw_subjects


@pytest.mark.parametrize("broken", [-1, 4])
def test_more_broken_subjects_than_subjects_are_refused_before_writing(broken):
    class NoS3:
        def __getattr__(self, name):
            pytest.fail(f"wrote to S3 ({name}) before checking broken")

    with pytest.raises(
        ValueError, match=rf"broken must be between 0 and n_subjects=3, got {broken}"
    ):
        write_raw_subjects(NoS3(), "s1", 3, broken=broken)
