"""The staff request being served, so every audit record written during it carries the staff
user's address without each service having to pass it along.

Set by ``compassionclub.security.middleware.AuditContextMiddleware`` for admin requests of
authenticated staff only; never for the public status page, whose visitors are members.
"""

from __future__ import annotations

from contextvars import ContextVar

current_ip_address: ContextVar[str | None] = ContextVar("audit_current_ip_address", default=None)
