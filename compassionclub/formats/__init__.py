"""Date and time formats of the staff pages (``FORMAT_MODULE_PATH``).

Django's English default ("Dec. 2, 2026, 9:50 p.m.") stood beside the ISO dates and 24-hour
times that the panels, exports and drug-check titles print ("2026-12-02 21:50"), on the same
page. Staff read one format everywhere; the member's page and the desk's sentences keep their
own spelled-out dates, chosen in their templates.
"""
