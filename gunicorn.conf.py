"""gunicorn's settings for this app (read from the working directory: run gunicorn from the
repository root, or pass ``-c gunicorn.conf.py``).

gunicorn answers some requests itself (a request line or headers it cannot parse, an error after
the application started its response) with a bare page and no security headers; these answers
now carry the app's headers and say nothing about the error.
"""

import gunicorn.util

limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190


def _write_error(sock, status_int, reason, mesg):
    from compassionclub.security.headers import gunicorn_error_response

    try:
        payload = gunicorn_error_response(status_int, reason, mesg)
    except Exception:  # Django not loaded (an error before the app): still no bare page
        payload = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Length: 0\r\n"
                   "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                   "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n\r\n").encode("latin-1")
    gunicorn.util.write_nonblock(sock, payload)


gunicorn.util.write_error = _write_error
