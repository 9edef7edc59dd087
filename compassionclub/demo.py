"""The demo programme: the groups of the April 2022 action, the three substances, a compound
vocabulary, checked batches and a few members. Used by ``manage.py seed_demo`` only.
"""

from __future__ import annotations

from decimal import Decimal

from members.models import Region
from testing_results.models import Compound

GROUPS = [
    ("BCAPOM", "BC Association of People on Opiate Maintenance", Region.VANCOUVER_COASTAL),
    ("CPDDW", "Coalition of Peers Dismantling the Drug War", Region.VANCOUVER_COASTAL),
    ("CSUN", "Coalition of Substance Users of the North", Region.NORTHERN),
    ("i2i", "i2i Peer Support", Region.FRASER),
    ("MHRS", "Mountainside Harm Reduction Society", Region.INTERIOR),
    ("NSH", "Northern Sun Helpers", Region.NORTHERN),
    ("SOLID", "Society of Living Illicit Drug Users", Region.ISLAND),
    ("TORO", "The Tenant Overdose Response Organisers", Region.VANCOUVER_COASTAL),
    ("VANDU", "Vancouver Area Network of Drug Users", Region.VANCOUVER_COASTAL),
    ("WAHRS", "Western Aboriginal Harm Reduction Society", Region.VANCOUVER_COASTAL),
]

C, D = Compound.Category, Compound.DrugClass
COMPOUNDS = [
    # The substances themselves.
    ("Heroin (diacetylmorphine)", C.ACTIVE, D.OPIOID),
    ("Cocaine", C.ACTIVE, D.STIMULANT),
    ("Methamphetamine", C.ACTIVE, D.STIMULANT),
    # Cuts and by-products that are expected and benign at these levels.
    ("6-Monoacetylmorphine", C.CUT, D.OPIOID),
    ("Acetylcodeine", C.CUT, D.OPIOID),
    ("Papaverine", C.CUT, D.OTHER),
    ("Noscapine", C.CUT, D.OTHER),
    ("Caffeine", C.CUT, D.OTHER),
    ("Mannitol", C.CUT, D.OTHER),
    ("Inositol", C.CUT, D.OTHER),
    ("Dimethylsulfone (MSM)", C.CUT, D.OTHER),
    ("Sodium bicarbonate", C.CUT, D.OTHER),
    ("Lactose", C.CUT, D.OTHER),
    # Harmful adulterants on the watch list.
    ("Fentanyl", C.HARMFUL, D.FENTANYL),
    ("Carfentanil", C.HARMFUL, D.FENTANYL),
    ("Fluorofentanyl", C.HARMFUL, D.FENTANYL),
    ("Acetylfentanyl", C.HARMFUL, D.FENTANYL),
    ("Bromazolam", C.HARMFUL, D.BENZODIAZEPINE),
    ("Etizolam", C.HARMFUL, D.BENZODIAZEPINE),
    ("Flualprazolam", C.HARMFUL, D.BENZODIAZEPINE),
    ("Desalkylgidazepam", C.HARMFUL, D.BENZODIAZEPINE),
    ("Isotonitazene", C.HARMFUL, D.NITAZENE),
    ("Metonitazene", C.HARMFUL, D.NITAZENE),
    ("Protonitazene", C.HARMFUL, D.NITAZENE),
    ("Xylazine", C.HARMFUL, D.XYLAZINE),
    ("Medetomidine", C.HARMFUL, D.ALPHA2_AGONIST),
    ("Levamisole", C.HARMFUL, D.OTHER),
    ("Phenacetin", C.HARMFUL, D.OTHER),
]

# French names, for members who read the status page in French (the English name otherwise).
NAMES_FR = {
    "Heroin": "Héroïne", "Cocaine": "Cocaïne", "Methamphetamine": "Méthamphétamine",
    "Heroin (diacetylmorphine)": "Héroïne (diacétylmorphine)", "Caffeine": "Caféine",
    "Acetylcodeine": "Acétylcodéine", "Papaverine": "Papavérine", "Noscapine": "Noscapine",
    "Dimethylsulfone (MSM)": "Diméthylsulfone (MSM)", "Sodium bicarbonate": "Bicarbonate de sodium",
    "Fentanyl": "Fentanyl", "Acetylfentanyl": "Acétylfentanyl", "Phenacetin": "Phénacétine",
    "Levamisole": "Lévamisole", "Medetomidine": "Médétomidine", "Xylazine": "Xylazine",
}

SUBSTANCES = [
    ("Heroin", "Heroin (diacetylmorphine)"),
    ("Cocaine", "Cocaine"),
    ("Methamphetamine", "Methamphetamine"),
]

# username, role, groups coordinated
DEMO_PASSWORD = "compassion-demo-2026"
DEMO_USERS = [
    ("demo_admin", "Programme admin", []),
    ("demo_coordinator", "Coordinator", ["VANDU"]),
    ("demo_coordinator2", "Coordinator", ["VANDU", "BCAPOM", "WAHRS"]),
    ("demo_coordinator_solid", "Coordinator", ["SOLID"]),
    ("demo_checker", "Drug checker", []),
    ("demo_release", "Release officer", []),
    ("demo_auditor", "Auditor", []),
]

# Members enrolled per group, and a known PIN for the demo status page.
MEMBERS_PER_GROUP = {"VANDU": 6, "SOLID": 4, "BCAPOM": 3, "WAHRS": 3}
DEMO_PIN = "731946"
# Members enrolled a year ago, so the renewals worklist has work: days until each one's
# membership runs out (negative: overdue, so the desk refuses them until renewed).
RENEWALS_DUE = {"VANDU": [-5, 3, 12, 25], "SOLID": [8]}
# One VANDU member (the third enrolled, who has a visit) lost the card and got a new one.
REPLACED_CARD = ("VANDU", 2)

# substance, grams received, what the checks found: {method: [(compound, result, pct)]}
D_, N_ = "detected", "not_detected"
BATCHES = [
    (
        "Heroin",
        Decimal("250.000"),
        {
            "ftir": [("Heroin (diacetylmorphine)", D_, None), ("Caffeine", D_, None), ("Fentanyl", N_, None)],
            "mass_spec": [
                ("Heroin (diacetylmorphine)", D_, Decimal("62.400")),
                ("6-Monoacetylmorphine", D_, Decimal("4.100")),
                ("Caffeine", D_, Decimal("21.000")),
                ("Fentanyl", N_, None), ("Carfentanil", N_, None), ("Bromazolam", N_, None),
                ("Isotonitazene", N_, None), ("Xylazine", N_, None),
            ],
            "immunoassay": [("Fentanyl", "negative", None), ("Bromazolam", "negative", None)],
        },
        True,
    ),
    (
        "Cocaine",
        Decimal("250.000"),
        {
            "ftir": [("Cocaine", D_, None), ("Mannitol", D_, None)],
            "mass_spec": [
                ("Cocaine", D_, Decimal("81.700")), ("Levamisole", N_, None), ("Fentanyl", N_, None),
                ("Etizolam", N_, None), ("Isotonitazene", N_, None), ("Xylazine", N_, None),
            ],
            "immunoassay": [("Fentanyl", "negative", None), ("Bromazolam", "negative", None)],
        },
        True,
    ),
    (
        "Methamphetamine",
        Decimal("250.000"),
        {
            "ftir": [("Methamphetamine", D_, None), ("Dimethylsulfone (MSM)", D_, None)],
            "mass_spec": [
                ("Methamphetamine", D_, Decimal("93.200")), ("Fentanyl", N_, None),
                ("Bromazolam", N_, None), ("Isotonitazene", N_, None), ("Xylazine", N_, None),
            ],
            "immunoassay": [("Fentanyl", "negative", None), ("Bromazolam", "negative", None)],
        },
        True,
    ),
    (
        "Heroin",
        Decimal("120.000"),
        {
            "ftir": [("Heroin (diacetylmorphine)", D_, None), ("Caffeine", D_, None)],
            "mass_spec": [
                ("Heroin (diacetylmorphine)", D_, Decimal("38.000")), ("Fentanyl", D_, Decimal("1.200")),
                ("Bromazolam", D_, Decimal("0.800")), ("Xylazine", N_, None),
            ],
            "immunoassay": [("Fentanyl", "positive", None), ("Bromazolam", "positive", None)],
        },
        False,  # fentanyl found: stays quarantined
    ),
]

# group, grams of each released batch transferred from the central store
TRANSFERS = {"VANDU": Decimal("80.000"), "SOLID": Decimal("40.000"), "BCAPOM": Decimal("30.000"), "WAHRS": Decimal("30.000")}
# Each manifest's packages, and one more manifest left on the road (group, grams).
PACKAGES = 2
IN_TRANSIT = ("SOLID", Decimal("10.000"))

DEFAULT_ALLOWANCE_GRAMS = Decimal("14.000")
DISTRIBUTION_GRAMS = Decimal("3.500")
# Detection limits (% by weight) the demo lab records: method, class ("" for anything), limit.
DETECTION_LIMITS = [
    ("mass_spec", "", Decimal("0.1")),
    ("mass_spec", "fentanyl", Decimal("0.01")),
    ("mass_spec", "nitazene", Decimal("0.01")),
    ("mass_spec", "benzodiazepine", Decimal("0.05")),
]

# The rows each method's check form starts with. A strip gives one result for its lot's class,
# so its panel names one compound per class the strips are made for.
STRIP_PANEL = ["Fentanyl", "Bromazolam", "Isotonitazene", "Xylazine"]


def panels() -> dict[str, list[str]]:
    spectrum = {
        "ftir": [n for n, c, _d in COMPOUNDS if c in (C.ACTIVE, C.CUT)],
        "mass_spec": [n for n, c, _d in COMPOUNDS if c in (C.ACTIVE, C.HARMFUL)],
    }
    return {**spectrum, "immunoassay": STRIP_PANEL}


SAMPLE_MG = {"ftir": Decimal("5.000"), "mass_spec": Decimal("2.000"), "immunoassay": Decimal("10.000")}
# The bench's instruments and strip lots (FIELD-NOTES.md: the BTNX fentanyl lot's cut-off is
# 20 ng/mL). Verification and expiry are set relative to the day the demo is loaded.
INSTRUMENTS = [
    # method, make and model, serial, library, library version, days until verification is due
    ("ftir", "Bruker Alpha II", "ALPHA2-0417", "Bruker illicit drugs library", "2022.1", 120),
    ("mass_spec", "Agilent 6546 LC/Q-TOF", "Q-TOF-6546-22", "Partner lab forensic library", "v14", 200),
]
STRIP_LOTS = [
    # maker, lot number, target class, cut-off (ng/mL), days until expiry
    ("BTNX Rapid Response", "FYL-22D0318", "fentanyl", Decimal("20"), 300),
    ("BTNX Rapid Response", "BZO-22C1107", "benzodiazepine", Decimal("300"), 300),
]
LABS = {"ftir": "Bruker Alpha II FTIR", "mass_spec": "Partner lab LC-MS/MS", "immunoassay": "BTNX Rapid Response strips"}
