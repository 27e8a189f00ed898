"""Which test proves the authorization of each non-public route (the route inventory test enforces it).

Study routes are proven by the authorization matrix (its ``COVERED_ROUTES``); every other route names one test
that shows the roles and situations it must refuse being refused. A new route fails the inventory until it is
listed here with a test that exists.
"""

from __future__ import annotations

from tests.access.test_authorization_matrix import COVERED_ROUTES, SEARCH_ROUTES

Route = tuple[str, str]

#: test file → test function → the routes whose refusals it proves.
_PROOFS: dict[str, dict[str, list[Route]]] = {
    "tests/access/test_authorization_matrix.py": {
        "test_each_role_and_situation_gets_exactly_the_expected_status_on_every_study_route": [
            ("GET", path) for path in COVERED_ROUTES if path not in SEARCH_ROUTES and not path.startswith("/persons/")
        ],
        "test_searches_and_timelines_list_exactly_the_visible_studies": [
            ("GET", path) for path in COVERED_ROUTES if path in SEARCH_ROUTES or path.startswith("/persons/")
        ],
    },
    "tests/dicomweb/test_stow.py": {
        "test_upload_requires_a_hospital_token": [("POST", "/dicomweb/studies"), ("POST", "/dicomweb/studies/{study}")],
    },
    "tests/reports/test_reports_api.py": {
        "test_other_hospitals_and_roles_do_not_see_reports": [("POST", "/reports")],
    },
    "tests/identity/test_xref.py": {"test_only_hospitals_register": [("POST", "/patients/xrefs")]},
    "tests/identity/test_link_tokens.py": {
        "test_only_hospitals_get_link_keys_and_tokens": [
            ("GET", "/patients/link-key"),
            ("POST", "/patients/link-tokens"),
        ]
    },
    "tests/accounts/test_admin_routes.py": {
        "test_only_administrators_create_institutions_and_accounts": [
            ("POST", "/admin/institutions"),
            ("POST", "/admin/accounts"),
        ],
    },
    "tests/audit/test_auditor_api.py": {
        "test_only_auditors_read_the_trail": [
            ("GET", "/audit/events"),
            ("GET", "/audit/export"),
            ("GET", "/audit/verify"),
            ("GET", "/audit/checkpoints"),
        ],
        "test_a_bad_search_is_refused": [("POST", "/audit/events/search")],
    },
    "tests/audit/test_flags.py": {
        "test_only_auditors_see_or_review_flags": [("GET", "/audit/flags"), ("POST", "/audit/flags/{flag_id}/review")],
    },
    "tests/consent/test_break_glass_review.py": {
        "test_only_auditors_see_or_review_break_glass_sessions": [
            ("GET", "/audit/break-glass"),
            ("POST", "/audit/break-glass/{session_id}/review"),
        ],
    },
    "tests/sessions/test_token_attacks.py": {
        "test_a_patient_token_replayed_after_sign_out_is_refused": [("POST", "/auth/sign-out")],
    },
    "tests/sessions/test_act_for.py": {"test_only_patients_act_for_someone": [("POST", "/auth/act-for")]},
    "tests/consent/test_grants.py": {
        "test_a_doctor_cannot_grant_and_an_unknown_person_is_not_found": [("POST", "/persons/{person_ref}/grants")],
        "test_another_persons_grants_are_not_found": [
            ("GET", "/persons/{person_ref}/grants"),
            ("DELETE", "/persons/{person_ref}/grants/{grant_id}"),
            ("GET", "/persons/{person_ref}/grants/{grant_id}/uses"),
        ],
    },
    "tests/consent/test_codes.py": {
        "test_a_code_is_issued_and_revoked_only_by_those_who_may": [
            ("POST", "/persons/{person_ref}/codes"),
            ("GET", "/persons/{person_ref}/codes"),
            ("DELETE", "/persons/{person_ref}/codes/{public_id}"),
        ],
        "test_only_doctors_with_an_account_redeem": [("POST", "/doctor/codes/redeem")],
    },
    "tests/consent/test_proxies.py": {
        "test_a_proxy_cannot_add_list_or_remove_proxies": [
            ("POST", "/persons/{person_ref}/proxies"),
            ("GET", "/persons/{person_ref}/proxies"),
            ("DELETE", "/persons/{person_ref}/proxies/{proxy_id}"),
        ],
        "test_a_patient_lists_the_people_they_represent": [("GET", "/me/represented")],
    },
    "tests/consent/test_break_glass.py": {
        "test_only_the_person_and_their_viewing_proxy_see_the_break_glass_sessions": [
            ("GET", "/persons/{person_ref}/break-glass"),
        ],
        "test_break_glass_needs_a_doctor_a_reason_and_a_known_person": [("POST", "/doctor/break-glass")],
        "test_an_ended_break_glass_session_opens_nothing": [("POST", "/doctor/break-glass/{session_id}/end")],
    },
    "tests/consent/test_access_log.py": {
        "test_only_the_person_and_their_viewing_proxy_read_the_access_log": [
            ("GET", "/persons/{person_ref}/access-log"),
        ],
        "test_a_doctor_lists_the_patients_he_currently_has_a_basis_for": [("GET", "/doctor/patients")],
    },
    "tests/consent/test_desk.py": {
        "test_a_desk_session_needs_an_attested_check_of_a_known_person_by_a_clerk": [("POST", "/desk/sessions")],
        "test_a_desk_session_serves_only_the_clerk_who_opened_it": [
            ("POST", "/desk/sessions/{session_id}/end"),
            ("POST", "/desk/sessions/{session_id}/children"),
        ],
    },
}

AUTHORIZATION_TESTS: dict[Route, str] = {
    route: f"{file}::{test}" for file, tests in _PROOFS.items() for test, routes in tests.items() for route in routes
}
