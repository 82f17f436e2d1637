"""The demo shop's fixed facts: its name and login, the size of its history, its teams,
and the word lists that customers, orders and addresses are drawn from."""

from __future__ import annotations

from datetime import timedelta

from threadline.vocabulary import JourneyStage

SHOP = "Harbour & Vine"
DEMO_PASSWORD = "threadline-demo"  # noqa: S105 - the published demo login, not a secret
ADMIN_EMAIL = "admin@harbourandvine.example"
LOGIN = (
    f"{ADMIN_EMAIL} / {DEMO_PASSWORD} (admin); the same password signs in "
    "priya@ (supervisor: the wallboard), tom@ (agent: the inbox) and ollie@ "
    "(clerk: the shop counter) at harbourandvine.example"
)
HISTORY = timedelta(days=45)
MIN_CUSTOMERS = 15  # one customer per showcase story, and a few more
MAX_CUSTOMERS = 800  # the drama-range mobile numbers run out beyond this

SHOP_FLOOR, CONTACT_CENTRE, SOCIAL, TRADE_DESK = "Shop floor", "Contact centre", "Social", "Trade"

# What made-up customers, their orders and addresses are drawn from.
FIRST_NAMES = (
    "Amelia", "Olivia", "Isla", "Ava", "Mia", "Grace", "Freya", "Lily", "Sophie", "Ella",
    "Evie", "Poppy", "Zara", "Aisha", "Chloe", "Ruby", "Harriet", "Niamh", "Siobhan", "Anjali",
    "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Oscar", "Theo", "Alfie",
    "Rhys", "Callum", "Mohammed", "Ibrahim", "Tomasz", "Kwame", "Dylan", "Finley", "Hamish",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas", "Roberts",
    "Walker", "Wright", "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris", "Clarke",
    "Patel", "Khan", "Begum", "Murphy", "Kelly", "Campbell", "Stewart", "MacLeod", "Davies",
    "Lewis", "Price", "Okoye", "Mensah", "Nowak", "Kowalski", "Ahmed", "Chen", "Nguyen",
    "Fletcher", "Barker", "Holloway",
)  # fmt: skip
TRADE_NAMES = (
    "Foxglove", "Saltmarsh", "Old Mill", "Bramble", "Larkspur", "Harbourside", "Wren",
    "Juniper", "Kingfisher",
)  # fmt: skip
TRADE_KINDS = ("Interiors", "Lettings", "Café", "Holiday Cottages", "Design Studio", "Guest House")
ITEMS = (
    "Sennen stoneware vase", "linen duvet cover", "oak serving board", "rattan pendant shade",
    "glass carafe set", "merino wool throw", "enamel pendant light", "terracotta planter",
    "cast-iron casserole", "velvet cushion set", "jute runner rug", "set of four stoneware mugs",
)  # fmt: skip
POSTCODES = ("BS1 4DJ", "BN1 1AE", "EX4 3LS", "TR18 4AX", "CF10 1EP", "SW9 8HB", "LS6 2AF")
MAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example")

# How far along their journey customers of each segment are, and what they have spent.
STAGES: dict[str, tuple[tuple[JourneyStage, int], ...]] = {
    "vip": ((JourneyStage.LOYAL, 6), (JourneyStage.REPEAT, 3), (JourneyStage.AT_RISK, 1)),
    "trade": ((JourneyStage.REPEAT, 5), (JourneyStage.LOYAL, 3), (JourneyStage.FIRST_PURCHASE, 2)),
    "standard": (
        (JourneyStage.PROSPECT, 2),
        (JourneyStage.FIRST_PURCHASE, 4),
        (JourneyStage.REPEAT, 3),
        (JourneyStage.LOYAL, 1),
        (JourneyStage.AT_RISK, 1),
        (JourneyStage.LAPSED, 1),
    ),
}
SPEND = {  # lifetime value in pounds for a standard customer at each stage
    JourneyStage.PROSPECT: (0, 0),
    JourneyStage.FIRST_PURCHASE: (15, 180),
    JourneyStage.REPEAT: (120, 900),
    JourneyStage.LOYAL: (600, 3500),
    JourneyStage.AT_RISK: (200, 1500),
    JourneyStage.LAPSED: (40, 400),
}
SPEND_FACTOR = {"vip": 3, "trade": 6, "standard": 1}
