"""The per-file runner: one read per file, a failed read is that file's own result,
results in order, and pydicom's value-quoting warnings silenced while it works."""

import logging
import warnings

from anon_pipeline.engine.files.runner import each_file


def test_every_item_gets_one_result_in_order_and_a_failed_read_is_its_own(tmp_path):
    (tmp_path / "a").write_bytes(b"first")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c").write_bytes(b"third")
    items = ["a", "missing", "sub/c", "sub"]  # a file, nothing, a nested file, a folder
    results = each_file(
        tmp_path,
        items,
        path_of=lambda item: item,
        work=lambda item, data: (item, data),
        unreadable=lambda item, error: (item, type(error).__name__),
    )
    assert results == [
        ("a", b"first"),
        ("missing", "FileNotFoundError"),
        ("sub/c", b"third"),
        ("sub", "IsADirectoryError"),
    ]


def test_the_work_runs_with_pydicoms_warnings_silenced(tmp_path):
    """pydicom's warnings and log lines quote element values (a name, a date of birth);
    none may reach a run's log while a file is worked on, and both return after."""
    (tmp_path / "f").write_bytes(b"x")
    pydicom_logger = logging.getLogger("pydicom")
    seen = []

    def warn_like_pydicom() -> int:
        with warnings.catch_warnings(record=True) as caught:
            warnings.warn("Invalid value for VR PN: 'Kowalski^Jan'", UserWarning, stacklevel=1)
        return len(caught)

    def work(item, data):
        seen.append((warn_like_pydicom(), pydicom_logger.disabled))
        return data

    assert each_file(tmp_path, ["f"], lambda item: item, work, lambda item, error: None) == [b"x"]
    assert seen == [(0, True)]
    assert not pydicom_logger.disabled
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert warn_like_pydicom() == 1
