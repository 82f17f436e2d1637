"""Stories about getting an order to the customer: a public complaint moved to direct
messages, missed delivery slots escalated to a call, a new day and a collection."""

from __future__ import annotations

from threadline.actions import Actor, assign, set_priority, switch_channel
from threadline.demo.data import CONTACT_CENTRE, POSTCODES, SHOP, SOCIAL
from threadline.demo.people import Person
from threadline.demo.scheduler import Story
from threadline.demo.world import World
from threadline.vocabulary import CaseStatus, Channel, Priority, SwitchReason


def late_delivery_on_x(w: World, p: Person) -> Story:
    """A public complaint; the agent answers in public and moves to direct messages
    because the order number and postcode must not be posted."""
    order, agent = w.order(), w.pick(SOCIAL)
    case = w.say(
        p,
        Channel.X,
        "@HarbourAndVine two weeks and still no sign of my order. Tracking hasn't moved "
        "since Tuesday. Not impressed",
        public=True,
        topic="delivery",
    ).case_id
    yield w.staffed(w.minutes(5, 50))
    w.reply(
        agent,
        case,
        f"@{p.x} Sorry {p.first}, that's not the wait we want for you. We'll DM you now - "
        f"please don't post your order details here. ^{w.names[agent][0]}",
    )
    switch_channel(
        w.db, w.env, Actor.agent(agent), case, Channel.X, SwitchReason.PRIVATE_DATA, public=False
    )
    yield w.minutes(10, 120)
    w.say(p, Channel.X, f"Hi, it's order {order}, postcode {w.rng.choice(POSTCODES)}.")
    yield w.staffed(w.minutes(5, 40))
    w.reply(
        agent,
        case,
        f"Thanks {p.first}. The courier lost the parcel at their Bristol depot, so we've sent "
        f"a new one by next-day delivery and refunded your postage. Tracking for {order} "
        "follows by email.",
    )
    w.status(agent, case, CaseStatus.RESOLVED)


def missed_delivery(w: World, p: Person) -> Story:
    """Texts about a second missed delivery slot; the supervisor takes over, escalates
    to a phone call, and the customer's thank-you reopens the case for a moment."""
    order, agent, boss = w.order(), w.pick(CONTACT_CENTRE), w.supervisor
    case = w.say(
        p,
        Channel.SMS,
        f"Hi, my sofa (order {order}) was due today and nobody has come. What's happening?",
        topic="delivery",
    ).case_id
    yield w.staffed(w.minutes(15, 90))
    w.reply(
        agent,
        case,
        f"Hi {p.first}, sorry about this. The two-person crew is running late and now expects "
        f"to reach you within three hours. {SHOP}",
    )
    yield w.hours(5, 7)
    w.say(p, Channel.SMS, "Still nothing. I took the day off work for this. AGAIN.")
    yield w.staffed(w.minutes(5, 20))
    set_priority(w.db, w.env, Actor.agent(boss), case, Priority.URGENT)
    assign(w.db, w.env, Actor.agent(boss), case, boss)
    w.note(
        boss,
        case,
        "Second missed slot on this order. Taking it over: calling to offer Saturday's first "
        "drop and a refund of the £45 delivery charge.",
    )
    w.move(boss, case, Channel.PHONE, SwitchReason.ESCALATION)
    yield w.staffed(w.minutes(5, 20))
    w.call(
        p,
        "Supervisor call: apologised for two missed slots, booked Saturday 8-10am (first "
        "drop), refunded the £45 delivery charge. Customer accepted.",
        boss,
        ours=True,
    )
    w.status(boss, case, CaseStatus.RESOLVED)
    yield w.days(1, 2)
    w.say(p, Channel.SMS, "The sofa came first thing and it's lovely. Thanks for sorting it out.")
    yield w.staffed(w.minutes(30, 180))
    w.status(boss, case, CaseStatus.RESOLVED)
    yield w.days(3, 5)
    w.status(None, case, CaseStatus.CLOSED)


def whatsapp_reschedule(w: World, p: Person) -> Story:
    """A quick change of delivery day over WhatsApp."""
    order, agent = w.order(), w.pick(SOCIAL)
    case = w.say(
        p,
        Channel.WHATSAPP,
        f"Hi! Can I change the delivery day for order {order}? Thursday is no good any more",
        topic="delivery",
    ).case_id
    yield w.staffed(w.minutes(5, 60))
    w.reply(
        agent,
        case,
        f"Hi {p.first}! Of course - we can do Friday or Monday, both 7am-7pm. Which suits?",
    )
    yield w.minutes(5, 120)
    w.say(p, Channel.WHATSAPP, "Friday please!")
    yield w.staffed(w.minutes(2, 20))
    w.reply(agent, case, "Done, Friday it is. You'll get a text with a 2-hour slot that morning.")
    w.status(agent, case, CaseStatus.RESOLVED)


def click_and_collect(w: World, p: Person) -> Story:
    """A short text exchange about collecting an order in the shop."""
    agent, order = w.pick(CONTACT_CENTRE), w.order()
    case = w.say(
        p,
        Channel.SMS,
        f"Hi is the Clifton shop open on Sunday? Want to collect my order {order}",
        topic="click and collect",
    ).case_id
    yield w.staffed(w.minutes(10, 120))
    w.reply(
        agent,
        case,
        f"Hi {p.first}, yes - Sundays 10-4. Your order is ready at the till; just show the "
        f"confirmation text. {SHOP}",
    )
    w.status(agent, case, CaseStatus.RESOLVED)
