from __future__ import annotations

from collections.abc import Callable

import pytest
from pydicom.dataset import Dataset

from deidentify import Keys
from tests.deidentify.corpus import WANG, Person, ct_series, structured_report


@pytest.fixture
def keys() -> Keys:
    return Keys(uid_key=b"test-uid-key-0123456789abcdef", date_shift_key=b"test-date-shift-key-0123456789")


@pytest.fixture
def study() -> Callable[..., list[Dataset]]:
    """Fresh objects of one study (de-identification works in place): CT slices, then an SR referencing them."""

    def build(person: Person = WANG, *, charset: str = "GB18030", slices: int = 3) -> list[Dataset]:
        series = ct_series(person, charset=charset, slices=slices)
        return [*series, structured_report(person, series[0])]

    return build
