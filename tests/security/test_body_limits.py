"""Request bodies are refused by size before they are read: a 300 MB anonymous POST to the
status page was parsed to a temporary file before its CSRF refusal."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.test import Client

from testing_results.services import LAB_REPORT_MAX_BYTES


class MustNotBeRead(io.RawIOBase):
    def read(self, size=-1):
        raise AssertionError("the body was read")

    readline = read


class Endless(io.RawIOBase):
    """A chunked body with no Content-Length that never ends; counts what was taken from it."""

    def __init__(self) -> None:
        self.taken = 0

    def read(self, size=-1):
        size = 64 * 1024 if size is None or size < 0 else size
        self.taken += size
        return b"a" * size

    def readline(self, size=-1):
        return self.read(size)


def huge_post(client, url, length):
    return client.generic("POST", url, b"", content_type="multipart/form-data; boundary=x",
                          CONTENT_LENGTH=str(length), **{"wsgi.input": MustNotBeRead()})


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/status/", "/admin/login/", "/i18n/setlang/", "/admin/two-factor/"])
def test_a_large_body_to_a_public_or_sign_in_page_is_refused_unread(url):
    client = Client(raise_request_exception=False)
    response = huge_post(client, url, 300 * 1024 * 1024)
    assert response.status_code == 413
    # The answer carries the app's security headers like any other.
    assert response["X-Content-Type-Options"] == "nosniff" and "no-store" in response["Cache-Control"]
    assert huge_post(client, url, settings.BODY_LIMIT_SMALL + 1).status_code == 413


@pytest.mark.django_db
def test_a_large_body_from_anyone_not_signed_in_is_refused_anywhere():
    response = huge_post(Client(), "/admin/testing_results/drugcheck/1/attach-report/", 5 * 1024 * 1024)
    assert response.status_code == 413


@pytest.mark.django_db
def test_staff_may_send_a_lab_report_but_not_more(client, erin):
    client.force_login(erin)
    assert settings.BODY_LIMIT_UPLOAD >= LAB_REPORT_MAX_BYTES + 64 * 1024
    assert huge_post(client, "/admin/testing_results/drugcheck/1/attach-report/", settings.BODY_LIMIT_UPLOAD + 1).status_code == 413


@pytest.mark.django_db
def test_a_chunked_body_is_never_read_past_the_limit():
    stream = Endless()
    client = Client(raise_request_exception=False)
    response = client.generic("POST", "/status/", b"", content_type="application/x-www-form-urlencoded",
                              **{"wsgi.input": stream, "wsgi.input_terminated": True, "CONTENT_LENGTH": ""})
    # Never read past the limit: Django reads no more than Content-Length, and the guard no more
    # than the limit whatever a server hands over as the body.
    assert response.status_code < 500
    assert stream.taken <= settings.BODY_LIMIT_SMALL + 1


@pytest.mark.django_db
def test_an_ordinary_status_page_post_still_works(group_a, alice, pin_hash):
    from tests import factories as f

    member = f.MemberFactory(group=group_a, created_by=alice, pin=pin_hash)
    client = Client(enforce_csrf_checks=True)
    token = client.get("/status/").cookies["csrftoken"].value
    response = client.post("/status/", {"code": member.code, "pin": "482915", "csrfmiddlewaretoken": token})
    assert "You can pick up" in response.content.decode()


@pytest.mark.django_db
def test_nul_in_a_query_parameter_is_a_bad_request_anywhere(client):
    assert client.get("/status/?x=%00").status_code == 400
    assert client.get("/admin/login/", {"next": "/admin/\x00"}).status_code == 400


def test_the_capped_stream_closes_like_the_stream_it_wraps():
    from compassionclub.security.requests import CappedStream

    inner = io.BytesIO(b"abc")
    capped = CappedStream(inner, 10)
    assert capped.read() == b"abc"
    capped.close()
    assert inner.closed
