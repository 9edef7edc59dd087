"""Every code a ``ServiceError`` carries, with what it means.

The code is the machine-readable half of a refusal (forms map codes to fields, tests and
integrations match on them); the message is for the person. A code means one thing wherever it
is raised. ``tests/foundation/test_error_codes.py`` reads the source and fails on a code raised
anywhere that is not listed here: add the new code with its meaning, or reuse one that means
the same. Eligibility reasons (``distributions.eligibility``) are refusals of
``distribution_record`` too, so they are listed as well.
"""

from __future__ import annotations

from compassionclub.errors import NOT_PERMITTED

ERROR_CODES: dict[str, str] = {
    # Who may do it
    NOT_PERMITTED: "The account does not hold the permission this action needs.",
    "not_coordinator": "Only a coordinator of the group concerned may do this.",
    "not_user_admin": "Only a programme admin may do this for another staff user.",
    "second_coordinator_required": "An override needs a second, different coordinator of the member's group.",
    "approver_not_confirmed": "The approving coordinator's password or two-factor code was not accepted.",
    "approver_without_two_factor": "The approving coordinator has no two-factor sign-in, which is required.",
    "invalidate_own_check": "A check is invalidated by someone other than the person who entered it.",
    # Amounts
    "grams_invalid": "The grams are not a number, or finer than a milligram.",
    "grams_not_positive": "The grams must be more than zero.",
    "grams_zero": "An adjustment of zero grams changes nothing.",
    "grams_too_large": "The grams are more than the record allows.",
    "sample_not_a_number": "The sample used is not a number of milligrams.",
    "sample_negative": "The sample used cannot be negative.",
    "bad_concentration": "A concentration must be between 0 and 100 %.",
    # Dates and periods
    "received_in_future": "A batch cannot be received on a future date.",
    "best_before_before_receipt": "Best before cannot be earlier than the date received.",
    "performed_in_future": "A check cannot have been performed in the future.",
    "performed_before_receipt": "A check cannot predate the batch's receipt.",
    "occurred_in_future": "A ledger movement cannot have happened in the future.",
    "enrolled_in_future": "An enrolment date cannot be in the future.",
    "renewal_date_invalid": "A renewal date must fall after enrolment and within the membership term.",
    "renewal_too_early": "A membership is renewed only in the last weeks before it runs out.",
    "period_invalid": "The start or end of the period is missing, or the end is not after the start.",
    "period_too_long": "An override lasts longer than the programme allows.",
    "period_in_past": "The override would already be over.",
    "window_invalid": "An allowance window is out of range.",
    "bad_period": "An export's start date is after its end date.",
    # Members
    "age_not_attested": "Being 19 or over has not been attested.",
    "no_consent": "No consent is recorded for the membership.",
    "consent_version_invalid": "The consent version is not one that can be recorded.",
    "group_inactive": "The group is not active in the programme.",
    "code_generation_failed": "No unique member code could be generated; try again.",
    "member_not_found": "No member (that the user may see) has this code.",
    "code_typo": "The member code's check character does not match the rest: a typo.",
    "member_not_active": "The membership is suspended or withdrawn.",
    "member_withdrawn": "A withdrawn membership cannot be renewed; enrol the member again.",
    "renewal_overdue": "The membership's renewal date has passed.",
    "status_invalid": "Not a membership status.",
    "status_unchanged": "The member already has that status.",
    "reason_invalid": "The reason is not one of those offered for this action.",
    "pin_missing": "No PIN was given.",
    "pin_not_digits": "A PIN is digits only.",
    "pin_too_short": "The PIN is shorter than the minimum.",
    "pin_too_long": "The PIN is longer than the maximum.",
    "pin_too_common": "The PIN is too easy to guess.",
    # Batches and drug checks
    "illegal_transition": "The batch's status does not allow this change.",
    "release_blocked": "The release rule is not met; the message lists every blocker.",
    "reason_required": "A batch's status change needs a reason.",
    "reason_too_long": "The reason is longer than is kept.",
    "batch_closed": "The batch is rejected or recalled; no more checks can be added.",
    "bad_method": "Not a drug-checking method.",
    "bad_compound": "A finding names no known compound.",
    "bad_finding_result": "A finding's result is not one the method reports.",
    "duplicate_finding": "A compound is listed twice in one check.",
    "no_findings": "A check needs at least one finding.",
    "lab_too_long": "The lab or instrument name is longer than is kept.",
    "instrument_required": "An FTIR or mass spectrometry check names its instrument.",
    "instrument_for_strip": "A strip check names a strip lot, not an instrument.",
    "instrument_wrong_method": "The instrument is for another method.",
    "instrument_not_verified": "The instrument's verification has lapsed.",
    "strip_lot_required": "A strip check names its strip lot.",
    "strip_lot_for_instrument_method": "An instrument check names an instrument, not a strip lot.",
    "strip_lot_expired": "The strip lot is past its expiry date.",
    "strip_lot_wrong_class": "The strip lot tests for another class of drug.",
    "source_unrecorded": "The unrecorded instrument is only for checks made before instruments were kept.",
    "retest_mismatch": "A retest replaces an earlier check of the same batch by the same method.",
    "already_invalidated": "The check has already been invalidated.",
    "bad_invalidation_reason": "Not one of the reasons for invalidating a check.",
    "rule_floor": "A method capability the release rule keeps in code cannot be changed.",
    "required_needs_rule_out": "A method can be required for a class only if it can rule the class out.",
    "report_not_pdf": "A lab report must be a PDF.",
    "report_empty": "The lab report file is empty.",
    "report_too_large": "The lab report is larger than allowed.",
    "report_already_attached": "The check already has a lab report.",
    # Stock and the ledger
    "batch_not_released": "Only released stock moves to groups and members.",
    "batch_on_hold": "The batch is on hold pending review.",
    "batch_recalled": "The batch has been recalled.",
    "insufficient_stock": "The store holds less of the batch than was asked for.",
    "over_allowance": "The grams are more than the member's remaining allowance.",
    "same_account": "Stock cannot move from a store to itself.",
    "transfer_needs_a_group": "A transfer goes to or from a group's store.",
    "already_reversed": "The entry has already been reversed.",
    "cannot_reverse_reversal": "A reversal cannot itself be reversed.",
    "idempotency_key_missing": "The write needs an idempotency key so that a retry is safe.",
    "idempotency_key_invalid": "The idempotency key is too long.",
    "idempotency_key_reused": "The idempotency key was already used for a different write.",
    "policy_not_stricter": "A group's allowance may only tighten the programme's.",
    # Recalls
    "already_acknowledged": "The recall notice has already been acknowledged.",
    "batch_not_recalled": "The batch is neither on hold nor recalled.",
    "batch_not_received": "The member did not receive the batch.",
    "already_told": "The member has already been told about the batch.",
    # Exports
    "unknown_export": "No export has that identifier.",
    "bad_format": "The export is not offered in that format.",
    "bad_status": "Not a batch status.",
    "missing_parameter": "The export needs a parameter that was not given.",
    "batch_not_found": "No batch with that id is visible to the user.",
    # Staff sign-in
    "already_enrolled": "An authenticator is already set up for the account.",
    "bad_token": "The two-factor code was not accepted.",
    "cannot_reset_own_two_factor": "Staff cannot reset their own two-factor sign-in.",
}
