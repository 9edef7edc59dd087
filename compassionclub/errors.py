"""The one exception every service raises when it refuses.

It is a ``ValidationError``, so an admin form or a view can show it as a form error, and it
carries a machine-readable ``code`` (``batch_not_released``, ``over_allowance``...) and a
message a coordinator understands. This module imports nothing from the apps, so every layer
may use it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError


class ServiceError(ValidationError):
    def __init__(self, code: str, message: str, **details) -> None:
        super().__init__(message, code=code)
        self.code = code
        self.message_text = message
        self.details = details

    def __str__(self) -> str:
        return self.message_text

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message_text!r})"


# The one code for "your account lacks the permission for this", whatever the service.
NOT_PERMITTED = "not_permitted"


def not_permitted(message: str) -> ServiceError:
    return ServiceError(NOT_PERMITTED, message)


def require_permission(user, perm: str, doing: str) -> None:
    """Refuse with ``not_permitted`` unless ``user`` is active and holds ``perm``; ``doing``
    completes "You are not allowed to ..."."""
    if user is None or not getattr(user, "is_active", False) or not user.has_perm(perm):
        raise not_permitted(f"You are not allowed to {doing}.")
