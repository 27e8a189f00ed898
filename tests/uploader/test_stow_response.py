"""Reason slugs come from ErrorComment, else from the FailureReason code."""

from __future__ import annotations

from imaging_cloud.uploader.stow_response import InstanceFailure, parse_stow_response


def test_failures_are_read_with_their_uid_and_slug() -> None:
    body = {
        "00081199": {"vr": "SQ", "Value": [{}, {}]},
        "00081198": {
            "vr": "SQ",
            "Value": [
                {
                    "00081197": {"vr": "US", "Value": [0xC001]},
                    "00000902": {"vr": "LO", "Value": ["unknown-patient: x"]},
                    "00081155": {"vr": "UI", "Value": ["1.2.3"]},
                },
                {"00081197": {"vr": "US", "Value": [0xC000]}},
                {"00000902": {"vr": "LO", "Value": ["has spaces: and more"]}},
            ],
        },
    }

    result = parse_stow_response(body)

    assert result.stored == 2
    assert result.failures == [
        InstanceFailure("1.2.3", "unknown-patient"),
        InstanceFailure(None, "failure-0xc000"),
        InstanceFailure(None, "unspecified-failure"),
    ]


def test_a_body_that_is_not_a_stow_response_yields_nothing() -> None:
    assert parse_stow_response(["not", "a", "mapping"]).stored == 0
    assert parse_stow_response({"00081199": "garbage"}).failures == []
