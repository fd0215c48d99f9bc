"""A server process freezes what it loaded at startup out of the garbage collector's passes and
collects more rarely (chukchat/gc_tuning.py); with the setting empty it keeps Python's defaults."""

import gc

import pytest

from chukchat.gc_tuning import tune_for_serving


@pytest.fixture
def collector_restored():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_a_process_ready_to_serve_freezes_its_startup_objects_and_collects_rarely(
    settings, collector_restored
):
    settings.GC_THRESHOLDS = (50000, 20, 20)

    tune_for_serving()

    assert gc.get_threshold() == (50000, 20, 20)
    assert gc.get_freeze_count() > 10_000  # Django, the apps and their modules


def test_with_no_thresholds_set_the_collector_is_left_as_python_made_it(
    settings, collector_restored
):
    settings.GC_THRESHOLDS = ()
    before = gc.get_threshold()

    tune_for_serving()

    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
