"""The access log's sentences: local time, who, what, and the basis in words a patient understands."""

from __future__ import annotations

import datetime as dt

from imaging_cloud.consent.plain_language import summarize

AT = dt.datetime(2026, 11, 23, 2, 5, tzinfo=dt.UTC)


def test_an_allowed_access_names_the_hospital_the_doctor_the_act_and_the_basis_in_shanghai_time() -> None:
    sentence = summarize(
        occurred_at=AT,
        actor_role="doctor",
        institution_name="太原市中心医院",
        doctor="王医生",
        action="read-report",
        decision="allow",
        basis="break-glass:7",
    )
    assert sentence.startswith("2026年11月23日 10:05，太原市中心医院 王医生 查看了您的诊断报告")
    assert sentence.endswith("（依据：紧急调阅（已通知您并提交审计复核））。")


def test_a_refusal_and_an_unknown_actor_or_action_still_read_plainly() -> None:
    refused = summarize(
        occurred_at=AT,
        actor_role="doctor",
        institution_name=None,
        doctor=None,
        action="retrieve",
        decision="deny",
        basis=None,
    )
    assert refused == "2026年11月23日 10:05，医生 尝试访问您的数据，未获允许。"
    odd = summarize(
        occurred_at=AT,
        actor_role=None,
        institution_name=None,
        doctor=None,
        action="new-thing",
        decision="allow",
        basis=None,
    )
    assert odd == "2026年11月23日 10:05，某用户 进行了操作「new-thing」。"
