"""The shared CSV renderer: formula neutralisation, numbers, encoding; and the PDF's refusal
of every external resource."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from distributions.exports import render
from distributions.exports.render import csv_cell, csv_chunks, pdf_from_html, refuse_every_url


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", '=HYPERLINK("http://x")'])
def test_it_neutralises_a_text_cell_that_would_start_a_formula(text):
    assert csv_cell(text) == "'" + text


def test_it_leaves_ordinary_text_and_typed_numbers_alone():
    assert csv_cell("Heroin (diacetylmorphine)") == "Heroin (diacetylmorphine)"
    assert csv_cell("6-Monoacetylmorphine") == "6-Monoacetylmorphine"
    # A number is written from its type, with a dot, never in exponent form, and a negative
    # one stays a number a spreadsheet can add up.
    assert csv_cell(Decimal("-3.500")) == "-3.500"
    assert csv_cell(Decimal("1E+3")) == "1000"
    assert csv_cell(Decimal("0.001")) == "0.001"
    assert csv_cell(-4) == "-4"
    assert csv_cell(None) == ""
    assert csv_cell(True) == "true"


def test_it_writes_dates_iso_and_datetimes_in_vancouver_time():
    assert csv_cell(dt.date(2026, 3, 1)) == "2026-03-01"
    assert csv_cell(dt.datetime(2026, 7, 1, 19, 0, tzinfo=dt.UTC)) == "2026-07-01T12:00:00-07:00"


def test_the_csv_is_utf8_with_a_header_and_survives_a_round_trip(monkeypatch):
    monkeypatch.setattr(render, "FLUSH_BYTES", 10)  # many small chunks
    rows = [["Français, été", Decimal("1.500")], ['a "quoted" word', Decimal("-2.000")], ["=evil()", 3]]
    chunks = list(csv_chunks(["name", "grams"], iter(rows)))
    assert len(chunks) > 1 and all(isinstance(c, bytes) for c in chunks)
    parsed = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8"))))
    assert parsed == [
        ["name", "grams"], ["Français, été", "1.500"], ['a "quoted" word', "-2.000"], ["'=evil()", "3"],
    ]


@pytest.mark.parametrize("url", ["http://example.com/a.png", "https://cdn.example.com/x.css", "file:///etc/passwd", "data:,x"])
def test_the_pdf_fetcher_refuses_every_url(url):
    with pytest.raises(ValueError):
        refuse_every_url(url)


def test_a_pdf_with_external_references_is_made_without_fetching_them(monkeypatch):
    asked = []

    def spy(url, *args, **kwargs):
        asked.append(url)
        return refuse_every_url(url)

    monkeypatch.setattr(render, "refuse_every_url", spy)
    pdf = pdf_from_html(
        '<html><head><link rel="stylesheet" href="https://cdn.example.com/x.css"></head>'
        '<body><p>text</p><img src="http://example.com/a.png"><img src="file:///etc/hostname"></body></html>'
    )
    assert pdf.startswith(b"%PDF")
    assert sorted(asked) == ["file:///etc/hostname", "http://example.com/a.png", "https://cdn.example.com/x.css"]


def test_a_rendered_row_is_written_as_the_csv_writer_writes_it():
    """csv_line joins plain rows itself and leaves every other row to the writer: the bytes are
    the writer's for every combination of the characters that make it quote."""
    import csv
    import itertools

    from distributions.exports.render import _Line, csv_line

    writer = csv.writer(_Line(), lineterminator="\r\n")
    cells = ["", "a", ",", '"', "\r", "\n", " ", "'=1", "x,y", "é", "\t", '""']
    for width in (1, 2, 3):
        for row in itertools.product(cells, repeat=width):
            assert csv_line(writer, list(row)) == writer.writerow(list(row)), row
