"""PDFs for the tests, built with pypdf: a plain one, and the kinds a lab report must never be."""

from __future__ import annotations

import io

from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject


def _bytes(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def plain_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    return _bytes(writer)


def _with_root_entry(key: str, value) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer._root_object[NameObject(key)] = value
    return _bytes(writer)


def open_action_javascript() -> bytes:
    return _with_root_entry("/OpenAction", DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")}))


def launch_action() -> bytes:
    return _with_root_entry("/OpenAction", DictionaryObject(
        {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("cmd.exe")}))


def uri_action() -> bytes:
    return _with_root_entry("/OpenAction", DictionaryObject(
        {NameObject("/S"): NameObject("/URI"), NameObject("/URI"): TextStringObject("https://example.org/x")}))


def document_javascript() -> bytes:
    """Document-level JavaScript in the /Names tree, run by a reader when the file opens."""
    action = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")})
    tree = DictionaryObject({NameObject("/Names"): ArrayObject([TextStringObject("x"), action])})
    return _with_root_entry("/Names", DictionaryObject({NameObject("/JavaScript"): tree}))


def embedded_file() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_attachment("payload.exe", b"MZ\x90\x00")
    return _bytes(writer)


def html_posing_as_pdf() -> bytes:
    return b"%PDF-1.7\n<html><body><script>alert(document.cookie)</script></body></html>\n%%EOF\n"


def truncated() -> bytes:
    return plain_pdf()[:-200]
