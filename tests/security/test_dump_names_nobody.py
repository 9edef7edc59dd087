"""A dump names nobody: seed the demo programme, use it as members and staff do, dump the whole
database (``dumpdata`` over every app; on PostgreSQL also ``pg_dump``) and scan it. Members are
codes and hashes only: no name-like field, no birth date, phone number or e-mail address in any
record about a member, no PIN in clear, and no address a member's phone came from.

The scan is held to account by negative controls: the same scan must catch a phone number added
to a member, a note about a member, an e-mail address in a ledger reason, a PIN kept in clear,
and the status page's REMOTE_ADDR stored anywhere (an audit record, a counter key)."""

from __future__ import annotations

import copy
import io
import ipaddress
import json
import re
import shutil
import subprocess

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from compassionclub import demo
from compassionclub.audit.services import audit_log
from distributions.status_page.models import AttemptCounter
from members.models import Member
from tests.factories import seeded_methods

# What a member record may hold; a new field fails the scan until someone has decided it names
# nobody and added it here.
MEMBER_FIELDS = {"code", "group", "status", "enrolled_on", "renewal_due", "consent_version", "consent_given_at",
                 "age_attested", "pin", "created_at", "created_by", "forgotten_at"}
# Words that, in the name of a field of any record about a member, say it describes the person.
PERSONAL_WORDS = {"name", "first", "last", "surname", "nickname", "alias", "birth", "birthday", "dob", "born", "age",
                  "phone", "mobile", "cell", "tel", "sms", "email", "mail", "address", "addr", "street", "postal",
                  "zip", "city", "gender", "sex", "note", "notes", "comment", "comments", "description", "remark",
                  "ip", "remote", "photo", "health", "card", "contact"}
ALLOWED_WORDS = {("members.member", "age_attested")}  # a yes/no attestation, no birth date
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
PHONE = re.compile(r"(?<![\w.:-])(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\w.:-])")
PIN_HASH = re.compile(r"^(argon2\$|pbkdf2_sha256\$|pbkdf2_sha1\$|scrypt\$|md5\$|!)")
CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{12}$")

MEMBER_ADDRESS = "198.51.100.23"
MEMBER_ADDRESS_V6 = "2001:db8:77:1::5"
STAFF_ADDRESS = "192.0.2.200"


def member_labels() -> set[str]:
    """Every model that is a member or records something about one (points at Member)."""
    labels = {"members.member"}
    for model in apps.get_models():
        if any(getattr(f, "related_model", None) is Member and f.concrete for f in model._meta.get_fields()):
            labels.add(model._meta.label_lower)
    return labels


def member_addresses() -> list[str]:
    """The member's addresses in every form a store might keep them."""
    net = ipaddress.ip_network(f"{MEMBER_ADDRESS_V6}/64", strict=False)
    return [MEMBER_ADDRESS, MEMBER_ADDRESS_V6, ipaddress.ip_address(MEMBER_ADDRESS_V6).exploded, str(net),
            str(net.network_address)]


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _scan_member_record(obj: dict, pin: str) -> list[str]:
    label, fields = obj["model"], obj["fields"]
    where = f"{label} #{obj.get('pk')}"
    found = []
    if label == "members.member":
        found += [f"{where}: field {name!r} is not one a member may have" for name in set(fields) - MEMBER_FIELDS]
        if not CODE.match(str(fields.get("code", ""))):
            found.append(f"{where}: the code is not a generated member code")
        if not PIN_HASH.match(str(fields.get("pin", ""))):
            found.append(f"{where}: the PIN is not a password hash")
    for name in fields:
        if set(name.lower().split("_")) & PERSONAL_WORDS and (label, name) not in ALLOWED_WORDS:
            found.append(f"{where}: field {name!r} describes a person")
    for text in _strings(fields):
        if EMAIL.search(text):
            found.append(f"{where}: an e-mail address")
        if PHONE.search(text):
            found.append(f"{where}: a phone number")
        if text == pin:
            found.append(f"{where}: the PIN in clear")
    return found


def scan_objects(objects: list[dict], *, pin: str) -> list[str]:
    """What in a ``dumpdata`` dump names or locates a member; empty when nothing does."""
    labels = member_labels()
    found = []
    for obj in objects:
        if obj["model"] in labels:
            found += _scan_member_record(obj, pin)
        elif any(text == pin for text in _strings(obj["fields"])):
            found.append(f"{obj['model']} #{obj.get('pk')}: the PIN in clear")
    text = json.dumps(objects)
    found += [f"the member's address {a} is in the dump" for a in member_addresses() if a.lower() in text.lower()]
    return found


def scan_text(text: str, *, pin: str) -> list[str]:
    """The same for a pg_dump (plain SQL): the columns of the tables about members, the member's
    addresses anywhere, and the PIN as a column value."""
    found = [f"the member's address {a} is in the dump" for a in member_addresses() if a.lower() in text.lower()]
    if re.search(rf"(^|\t){re.escape(pin)}(\t|$)", text, re.MULTILINE):
        found.append("the PIN in clear")
    tables = {apps.get_model(label)._meta.db_table: label for label in member_labels()}
    for table, body in re.findall(r"^CREATE TABLE public\.(\w+) \((.*?)^\);", text, re.MULTILINE | re.DOTALL):
        if table not in tables:
            continue
        columns = [line.split()[0] for line in map(str.strip, body.splitlines())
                   if line and not line.startswith("CONSTRAINT")]
        obj = {"model": tables[table], "pk": "(schema)", "fields": {c.removesuffix("_id"): "" for c in columns if c != "id"}}
        found += [f for f in _scan_member_record(obj, pin) if "field" in f]
    return found


def dumpdata() -> list[dict]:
    out = io.StringIO()
    call_command("dumpdata", format="json", stdout=out)  # every app, every table
    return json.loads(out.getvalue())


def pg_dump() -> str | None:
    if connection.vendor != "postgresql" or shutil.which("pg_dump") is None:
        return None
    s = connection.settings_dict
    command = ["pg_dump", "--no-owner", "--dbname", s["NAME"], "--host", s["HOST"] or "localhost",
               "--port", str(s["PORT"] or 5432), "--username", s["USER"]]
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": s.get("PASSWORD") or ""}
    return subprocess.run(command, check=True, capture_output=True, text=True, env=env, timeout=300).stdout


def use_the_programme(member: Member) -> None:
    """Members check their status (wrong PIN, right PIN, from IPv4 and IPv6); staff sign in and
    look at a member, so the audit trail holds staff addresses (which it may)."""
    for address, pin in ((MEMBER_ADDRESS, "000000"), (MEMBER_ADDRESS, demo.DEMO_PIN),
                         (MEMBER_ADDRESS_V6, "999999"), (MEMBER_ADDRESS_V6, demo.DEMO_PIN)):
        client = Client(enforce_csrf_checks=True, REMOTE_ADDR=address)
        token = client.get("/status/").cookies["csrftoken"].value
        client.post("/status/", {"code": member.display_code, "pin": pin, "csrfmiddlewaretoken": token})
    staff = Client(REMOTE_ADDR=STAFF_ADDRESS)
    staff.force_login(member.group.coordinators.first())
    assert staff.get(reverse("admin:members_member_change", args=[member.pk])).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_dump_of_the_demo_programme_names_nobody():
    seeded_methods()
    call_command("seed_demo", "--quiet-logins", stdout=io.StringIO())
    member = Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk").first()
    use_the_programme(member)
    assert AttemptCounter.objects.exists()  # the status page did count the tries

    objects = dumpdata()
    assert {o["model"] for o in objects} >= {"members.member", "distributions.ledgerentry", "audit.auditrecord"}
    assert scan_objects(objects, pin=demo.DEMO_PIN) == []
    assert STAFF_ADDRESS in json.dumps(objects)  # staff addresses are kept (90 days): the scan is not blind
    sql = pg_dump()
    if sql is not None:
        assert "COPY public.members_member" in sql
        assert scan_text(sql, pin=demo.DEMO_PIN) == []
        doctored_sql = sql.replace("CREATE TABLE public.members_member (\n",
                                   "CREATE TABLE public.members_member (\n    phone_number character varying(20),\n")
        assert "members.member #(schema): field 'phone_number' is not one a member may have" in scan_text(
            doctored_sql, pin=demo.DEMO_PIN)

    # Negative controls, the same scan on what a careless change would store.
    doctored = copy.deepcopy(objects)
    first = next(o for o in doctored if o["model"] == "members.member")
    first["fields"]["phone_number"] = "604-555-0199"
    change = next(o for o in doctored if o["model"] == "members.memberstatuschange")
    change["fields"]["note"] = "sleeps at the shelter on Main"
    entry = next(o for o in doctored if o["model"] == "distributions.ledgerentry")
    entry["fields"]["reason"] = "picked up by sam@example.org"
    second = [o for o in doctored if o["model"] == "members.member"][1]
    second["fields"]["pin"] = demo.DEMO_PIN
    found = "\n".join(scan_objects(doctored, pin=demo.DEMO_PIN))
    assert "field 'phone_number' is not one a member may have" in found and "a phone number" in found
    assert "field 'note' describes a person" in found
    assert "an e-mail address" in found
    assert "the PIN is not a password hash" in found and "the PIN in clear" in found

    # ...and on the database itself: the status page's REMOTE_ADDR kept by a record or a counter.
    audit_log(action="status.checked", ip_address=MEMBER_ADDRESS)
    AttemptCounter.objects.create(key=f"client:{MEMBER_ADDRESS_V6}", count=1, expires_at=member.created_at)
    found = scan_objects(dumpdata(), pin=demo.DEMO_PIN)
    assert f"the member's address {MEMBER_ADDRESS} is in the dump" in found
    assert f"the member's address {MEMBER_ADDRESS_V6} is in the dump" in found
    sql = pg_dump()
    if sql is not None:
        assert f"the member's address {MEMBER_ADDRESS} is in the dump" in scan_text(sql, pin=demo.DEMO_PIN)
