"""Is an uploaded lab report a plain PDF document? Parsed with pypdf, not judged by its name.

Refused: anything pypdf cannot parse (including HTML or script behind a ``%PDF-`` header, and a
file with data after its last ``%%EOF`` that a browser might sniff), an encrypted file (it could
not be inspected), JavaScript anywhere, actions that launch a program, open a file or a URL, or
submit or import form data (``/Launch``, ``/GoToR``, ``/GoToE``, ``/URI``, ``/SubmitForm``,
``/ImportData``, ``/JavaScript``, ``/Rendition``), automatic actions (``/OpenAction`` or ``/AA``
that run one of those), embedded files and rich media. A lab report needs none of them.
"""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

from compassionclub.errors import ServiceError

logging.getLogger("pypdf").setLevel(logging.ERROR)

FORBIDDEN_KEYS = frozenset({"/JS", "/JavaScript", "/EmbeddedFile", "/EmbeddedFiles", "/RichMedia", "/XFA"})
FORBIDDEN_ACTIONS = frozenset({
    "/JavaScript", "/Launch", "/GoToR", "/GoToE", "/URI", "/SubmitForm", "/ImportData", "/Rendition",
    "/Sound", "/Movie",
})
MAX_OBJECTS = 200_000  # walked at most; a lab report has a few thousand


def _refuse(why: str) -> ServiceError:
    return ServiceError("report_unsafe", f"The lab report was refused: {why}. Export it again as a plain PDF.")


def _walk(root: PdfObject) -> None:
    seen: set[tuple[int, int]] = set()
    stack: list[PdfObject] = [root]
    walked = 0
    while stack:
        obj = stack.pop()
        walked += 1
        if walked > MAX_OBJECTS:
            raise _refuse("it has too many objects to inspect")
        if isinstance(obj, IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in seen:
                continue
            seen.add(ref)
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):
            for key, value in obj.items():
                if key in FORBIDDEN_KEYS:
                    raise _refuse("it contains JavaScript, embedded files or rich media")
                if key == "/S" and isinstance(value, NameObject) and value in FORBIDDEN_ACTIONS:
                    raise _refuse(f"it contains an action that runs or opens something ({value[1:]})")
                stack.append(value)
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)


def pdf_validate(data: bytes) -> None:
    """Raise ``ServiceError('report_unsafe' or 'report_not_pdf')`` unless ``data`` is a plain PDF."""
    if not data.startswith(b"%PDF-"):
        raise ServiceError("report_not_pdf", "The lab report is not a PDF (its content does not start like one).")
    tail = data.rstrip(b"\r\n\t \x00")
    if not tail.endswith(b"%%EOF"):
        raise _refuse("it does not end like a PDF (a damaged file, or something else after it)")
    head = data[:1024].lower()
    if b"<html" in head or b"<script" in head or b"<!doctype" in head:
        raise _refuse("it is a web page, not a PDF")
    try:
        reader = PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            raise _refuse("it is encrypted and cannot be inspected")
        if not len(reader.pages):
            raise _refuse("it has no pages")
        _walk(reader.trailer)
        for page in reader.pages:
            _walk(page)
    except ServiceError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise _refuse(f"it could not be read as a PDF ({type(error).__name__})") from error
