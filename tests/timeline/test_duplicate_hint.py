"""The duplicate-exam hint: same modality and body part within the window, earlier studies only."""

from __future__ import annotations

import datetime as dt

from imaging_cloud.timeline.service import TimelineStudy, duplicate_candidates, recent_similar


def study(uid: str, day: str, modality: str, body_part: str = "") -> TimelineStudy:
    return TimelineStudy(
        study_uid=uid,
        study_date=day,
        description="",
        institution_code="A",
        institution_name="A",
        modalities=(modality,),
        body_parts=(body_part,) if body_part else (),
        series_count=1,
        instance_count=1,
        report_count=0,
    )


def test_a_recent_same_modality_same_body_part_study_is_flagged_on_the_later_one_only() -> None:
    earlier, later = study("1", "20260101", "CT", "CHEST"), study("2", "20260201", "CT", "CHEST")
    hints = recent_similar([later, earlier], 90)
    assert hints == {"2": ("1",), "1": ()}


def test_other_modality_other_body_part_or_outside_the_window_is_not_a_duplicate() -> None:
    base = study("1", "20260101", "CT", "CHEST")
    others = [
        study("2", "20260110", "MR", "CHEST"),
        study("3", "20260110", "CT", "HEAD"),
        study("4", "20260501", "CT", "CHEST"),
    ]
    assert all(not hint for hint in recent_similar([base, *others], 90).values())


def test_an_unrecorded_body_part_cannot_rule_a_repeat_out_but_a_missing_date_can() -> None:
    hints = recent_similar([study("1", "20260101", "CT"), study("2", "20260102", "CT", "CHEST")], 30)
    assert hints["2"] == ("1",)
    assert recent_similar([study("1", "", "CT"), study("2", "20260102", "CT")], 30) == {"1": (), "2": ()}


def test_a_planned_exam_is_checked_against_the_recent_timeline() -> None:
    timeline = [study("2", "20261101", "CT", "CHEST"), study("1", "20260101", "CT", "CHEST")]
    found = duplicate_candidates(timeline, "ct", "chest", dt.date(2026, 11, 23), 90)
    assert [s.study_uid for s in found] == ["2"]
    assert duplicate_candidates(timeline, "MR", None, dt.date(2026, 11, 23), 90) == []
