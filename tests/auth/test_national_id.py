from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth.national_id import (
    InvalidNationalId,
    age_on,
    birth_date,
    check_digit,
    is_valid_national_id,
    normalize_national_id,
    parse_national_id,
)

STANDARD_EXAMPLE = "11010519491231002X"
"""The worked example of GB 11643-1999."""

TODAY = dt.date(2030, 1, 1)


def iso7064_mod11_2_holds(value: str) -> bool:
    """The defining property, computed independently: sum of a_i * 2^(18-i) over all 18 characters ≡ 1 (mod 11)."""
    digits = [10 if c == "X" else int(c) for c in value]
    return sum(d * (1 << (17 - i)) for i, d in enumerate(digits)) % 11 == 1


birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2029, 12, 31))
areas = st.integers(min_value=110000, max_value=829999).map(str)
sequences = st.integers(min_value=0, max_value=999).map(lambda n: f"{n:03d}")


@st.composite
def national_ids(draw: st.DrawFn) -> str:
    first17 = draw(areas) + draw(birth_dates).strftime("%Y%m%d") + draw(sequences)
    return first17 + check_digit(first17)


def test_standard_example_is_valid() -> None:
    assert check_digit(STANDARD_EXAMPLE[:17]) == "X"
    assert is_valid_national_id(STANDARD_EXAMPLE, today=TODAY)
    assert birth_date(STANDARD_EXAMPLE) == dt.date(1949, 12, 31)


@given(national_ids())
def test_generated_ids_satisfy_iso7064_and_are_valid(value: str) -> None:
    assert iso7064_mod11_2_holds(value)
    assert is_valid_national_id(value, today=TODAY)


@given(national_ids(), st.integers(min_value=0, max_value=17), st.integers(min_value=0, max_value=99))
def test_changing_any_one_character_makes_the_id_invalid(value: str, position: int, seed: int) -> None:
    alphabet = "0123456789X" if position == 17 else "0123456789"
    shift = 1 + seed % (len(alphabet) - 1)
    index = alphabet.index(value[position])
    corrupted = value[:position] + alphabet[(index + shift) % len(alphabet)] + value[position + 1 :]
    assert corrupted != value
    assert not is_valid_national_id(corrupted, today=TODAY)


@given(national_ids(), st.integers(min_value=0, max_value=16))
def test_swapping_two_adjacent_different_digits_makes_the_id_invalid(value: str, position: int) -> None:
    a, b = value[position], value[position + 1]
    if a == b or b == "X":
        return
    swapped = value[:position] + b + a + value[position + 2 :]
    assert not is_valid_national_id(swapped, today=TODAY)


def test_full_width_digits_spaces_and_lowercase_x_are_normalized() -> None:
    typed = "\u3000１１０１０５１９４９１２３１００２ｘ "
    assert normalize_national_id(typed) == STANDARD_EXAMPLE
    assert normalize_national_id("11010519491231002x") == STANDARD_EXAMPLE
    assert normalize_national_id("１１０１０５１９４９１２３１００２Ｘ") == STANDARD_EXAMPLE
    assert parse_national_id(typed, today=TODAY) == STANDARD_EXAMPLE


def test_validation_is_strict_on_the_canonical_form() -> None:
    assert not is_valid_national_id("11010519491231002x", today=TODAY)
    assert not is_valid_national_id(" 11010519491231002X", today=TODAY)
    assert not is_valid_national_id("１１０１０５１９４９１２３１００２X", today=TODAY)


def make(area: str, born: str, sequence: str = "123") -> str:
    first17 = area + born + sequence
    return first17 + check_digit(first17)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param(STANDARD_EXAMPLE[:17], id="17-chars"),
        pytest.param(STANDARD_EXAMPLE + "0", id="19-chars"),
        pytest.param("1101051949123100AX", id="letter-in-body"),
        pytest.param(make("011005", "19800101"), id="area-starts-with-zero"),
        pytest.param(make("110105", "19800230"), id="february-30"),
        pytest.param(make("110105", "19801301"), id="month-13"),
        pytest.param(make("110105", "18991231"), id="before-1900"),
        pytest.param(make("110105", "20300102"), id="born-after-today"),
        pytest.param("110105194912310021", id="wrong-check"),
        pytest.param("٠١١٠١٠٥١٩٤٩١٢٣١٠٠٢", id="arabic-indic-digits"),
    ],
)
def test_implausible_or_malformed_ids_are_invalid(value: str) -> None:
    assert not is_valid_national_id(value, today=TODAY)
    with pytest.raises(InvalidNationalId):
        parse_national_id(value, today=TODAY)


def test_leap_day_birth_dates_are_valid_only_in_leap_years() -> None:
    assert is_valid_national_id(make("110105", "20000229"), today=TODAY)
    assert not is_valid_national_id(make("110105", "19000229"), today=TODAY)


@given(st.text(max_size=40))
def test_validation_never_raises(value: str) -> None:
    assert is_valid_national_id(value, today=TODAY) in (True, False)


def test_errors_never_contain_the_number() -> None:
    with pytest.raises(InvalidNationalId) as caught:
        parse_national_id("110105194912310021", today=TODAY)
    assert "110105" not in str(caught.value)
    with pytest.raises(InvalidNationalId) as caught:
        birth_date("110105194912310021")
    assert "110105" not in str(caught.value)


@pytest.mark.parametrize(
    "first17", ["", "1234567890123456", "123456789012345678", "1101051949123100X", "１１０１０５１９４９１２３１００２"]
)
def test_check_digit_needs_exactly_17_ascii_digits(first17: str) -> None:
    with pytest.raises(InvalidNationalId):
        check_digit(first17)


def test_age_counts_completed_years() -> None:
    child = make("110105", "20200615")
    assert age_on(child, dt.date(2038, 6, 14)) == 17
    assert age_on(child, dt.date(2038, 6, 15)) == 18
    assert age_on(child, dt.date(2020, 6, 15)) == 0
    with pytest.raises(ValueError):
        age_on(child, dt.date(2020, 6, 14))
