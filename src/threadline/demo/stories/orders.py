"""Stories about orders once bought: a breakage, a return, a visit to the shop, a new
number that makes a duplicate customer to merge, and an invoice query."""

from __future__ import annotations

from threadline.actions import Actor, StoreVisit, log_store_visit, merge_customers, set_priority
from threadline.channels.base import IdentityRef
from threadline.demo.data import CONTACT_CENTRE, SHOP_FLOOR, SOCIAL, TRADE_DESK
from threadline.demo.people import Person, wa_id
from threadline.demo.scheduler import Story
from threadline.demo.world import World
from threadline.vocabulary import CaseStatus, Channel, IdentityKind, Priority


def damaged_item(w: World, p: Person) -> Story:
    """An email with a photo, then the customer rings (their choice of channel), the
    agent confirms by email (theirs), and the case is resolved and later closed."""
    order, item, agent = w.order(), w.item(), w.pick(CONTACT_CENTRE)
    case = w.say(
        p,
        Channel.EMAIL,
        f"Hello,\n\nOrder {order} arrived this morning and the {item} was broken in the box "
        "(photo attached). The outer box looked fine, so I think it was packed loosely.\n\n"
        f"Can you help?\n\n{p.first}",
        subject=f"Broken {item} - order {order}",
        topic="damaged item",
        photo=True,
    ).case_id
    yield w.staffed(w.minutes(20, 180))
    if p.segment == "vip":
        set_priority(w.db, w.env, Actor.agent(agent), case, Priority.HIGH)
    w.reply(
        agent,
        case,
        f"Dear {p.first},\n\nI'm so sorry your {item} arrived broken, and thank you for the "
        "photo. We can send a replacement or refund you in full - which would you prefer?"
        f"\n\nKind regards,\n{w.sign(agent)}",
    )
    w.status(agent, case, CaseStatus.PENDING)
    yield w.staffed(w.hours(3, 30))
    w.call(
        p,
        f"Customer rang about the broken {item}: would like a replacement rather than a "
        "refund, and is in on Thursday for the courier.",
        agent,
    )
    yield w.staffed(w.minutes(2, 15))
    w.note(
        agent,
        case,
        f"Replacement {item} reserved at the Avonmouth warehouse; the courier collects the "
        "broken one on the same visit. Flagged the packing to the warehouse team.",
    )
    w.reply(
        agent,
        case,
        f"Dear {p.first},\n\nAs promised on the phone: a replacement {item} leaves us "
        f"tomorrow as order {order}-R, and the courier will take the broken one away.\n\n"
        f"Kind regards,\n{w.sign(agent)}",
        channel=Channel.EMAIL,
    )
    w.status(agent, case, CaseStatus.RESOLVED)
    yield w.days(4, 7)
    w.status(None, case, CaseStatus.CLOSED)


def return_by_chat(w: World, p: Person) -> Story:
    """A return asked for on chat; the agent sends the label by email (agent's choice)."""
    order, item, agent = w.order(), w.item(), w.pick(CONTACT_CENTRE)
    case = w.say(
        p,
        Channel.CHAT,
        f"Hello, I'd like to return the {item} from order {order} - it's smaller than I expected.",
        topic="returns",
    ).case_id
    yield w.staffed(w.minutes(1, 5))
    w.reply(
        agent,
        case,
        f"Hi {p.first}, no problem - you have 30 days. I'll email you a prepaid returns "
        "label now so you can print it.",
    )
    yield w.staffed(w.minutes(1, 4))
    w.reply(
        agent,
        case,
        f"Dear {p.first},\n\nYour prepaid returns label for order {order} is below. Drop the "
        "parcel at any Evri ParcelShop; we refund within 3 working days of receiving it.\n\n"
        f"Kind regards,\n{w.sign(agent)}",
        channel=Channel.EMAIL,
    )
    w.status(agent, case, CaseStatus.PENDING)
    yield w.staffed(w.days(2, 6))
    w.note(agent, case, f"Return of {item} received at the warehouse, unused. Refund issued.")
    w.status(agent, case, CaseStatus.RESOLVED)


def shop_visit(w: World, p: Person) -> Story:
    """A visit to the shop, found by loyalty card when the customer has one. A special
    order is followed up by email (a switch the agent chooses); a return is settled at
    the till."""
    clerk, item = w.pick(SHOP_FLOOR), w.item()
    card = IdentityRef(IdentityKind.LOYALTY_CARD, p.card) if p.card else None
    special = p.email is not None and w.rng.random() < 0.6
    visit = StoreVisit(
        topic="special order" if special else "return in store",
        customer_id=None if card else p.id,
        identity=card,
        note=f"Wants the {item} in the larger size we don't keep in the shop."
        if special
        else f"Brought back the {item} bought online: chipped on arrival.",
        outcome="ordering from the web store for home delivery" if special else "refunded to card",
    )
    case = log_store_visit(w.db, w.env, clerk, visit).case_id
    if not special:
        w.status(clerk, case, CaseStatus.RESOLVED)
        return
    yield w.staffed(w.hours(1, 6))
    agent = w.pick(CONTACT_CENTRE)
    w.reply(
        agent,
        case,
        f"Dear {p.first},\n\nLovely to hear you visited the shop today. {w.names[clerk]} asked "
        f"us to order the {item} in the larger size for you: it will be with you within 5 "
        f"working days, delivery free.\n\nKind regards,\n{w.sign(agent)}",
        channel=Channel.EMAIL,
    )
    w.status(agent, case, CaseStatus.RESOLVED)


def new_number(w: World, p: Person) -> Story:
    """A customer writes from a new WhatsApp number, which makes a second customer; the
    agent checks the order and merges the two records."""
    order, item, agent = w.order(), w.item(), w.pick(SOCIAL)
    mobile = w.pool.mobile()
    got = w.say(
        p,
        Channel.WHATSAPP,
        f"Hi, it's {p.name} - new phone so new number! I ordered the {item} last week "
        f"({order}) under {p.email}. Has it shipped yet?",
        topic="order status",
        sender=IdentityRef(IdentityKind.WHATSAPP, wa_id(mobile), p.name),
    )
    yield w.staffed(w.minutes(10, 90))
    w.note(
        agent,
        got.case_id,
        f"New number for {p.name}: order {order} matches {p.email}. Merging the duplicate "
        "record this number made into the existing customer.",
    )
    merge_customers(w.db, w.env, Actor.agent(agent), p.id, got.customer_id)
    w.reply(
        agent,
        got.case_id,
        f"Hi {p.first}, thanks - I've added this number to your account. The {item} left our "
        "warehouse this morning and should be with you tomorrow.",
    )
    w.status(agent, got.case_id, CaseStatus.RESOLVED)


def invoice_query(w: World, p: Person) -> Story:
    """A trade account's invoice query (or a VAT receipt for anyone else)."""
    trade = p.segment == "trade"
    agent = w.pick(TRADE_DESK if trade else CONTACT_CENTRE)
    invoice, po = f"INV-{w.rng.randint(20000, 29999)}", f"PO{w.rng.randint(1000, 9999)}"
    ask = (
        f"Hi team,\n\nOur accounts department can't match invoice {invoice} to our purchase "
        f"order {po}. Could you reissue it with the PO number on it? We're on 30-day terms."
        f"\n\nThanks,\n{p.first}\n{p.name}"
        if trade
        else f"Hello,\n\nCould I have a VAT receipt for order {w.order()}? I'm claiming it "
        f"back through work.\n\nThanks,\n{p.first}"
    )
    case = w.say(
        p,
        Channel.EMAIL,
        ask,
        subject=f"Invoice {invoice} / {po}" if trade else "VAT receipt please",
        topic="invoice",
    ).case_id
    yield w.staffed(w.hours(1, 20))
    w.reply(
        agent,
        case,
        f"Hi {p.first},\n\nDone - the reissued document is attached to your account and on its "
        f"way to your accounts inbox.\n\nKind regards,\n{w.sign(agent)}",
    )
    w.status(agent, case, CaseStatus.RESOLVED)
    yield w.days(4, 8)
    w.status(None, case, CaseStatus.CLOSED)
