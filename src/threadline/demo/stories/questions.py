"""Stories that start with a question: a call-back booked on chat, a question settled on
the phone, and product questions by email that wait on the customer."""

from __future__ import annotations

from threadline.actions import Actor, assign
from threadline.demo.data import CONTACT_CENTRE
from threadline.demo.people import Person
from threadline.demo.scheduler import Story
from threadline.demo.world import World
from threadline.vocabulary import CaseStatus, Channel, SwitchReason


def callback(w: World, p: Person) -> Story:
    """A chat that needs a conversation: the agent books a call-back and makes it."""
    agent = w.pick(CONTACT_CENTRE)
    case = w.say(
        p,
        Channel.CHAT,
        "Hi, I'm measuring up for curtains in a bay window and can't work out which size "
        "of the linen range to order. Could someone talk me through it?",
        topic="product question",
    ).case_id
    yield w.staffed(w.minutes(1, 4))
    w.reply(
        agent,
        case,
        f"Hi {p.first}, bay windows are tricky! One of our soft-furnishings team can ring "
        "you back later today - is the number on your account the best one?",
    )
    yield w.minutes(1, 3)
    w.say(p, Channel.CHAT, "Yes that's fine, any time. Thanks!")
    w.move(agent, case, Channel.PHONE, SwitchReason.CALLBACK)
    yield w.staffed(w.hours(2, 5))
    w.call(
        p,
        "Call-back as promised: talked through measuring a three-sided bay; recommended two "
        "pairs of the 168 cm drop with a corded bay track. Customer will order online.",
        agent,
        ours=True,
    )
    w.status(agent, case, CaseStatus.RESOLVED)
    yield w.days(3, 6)
    w.status(None, case, CaseStatus.CLOSED)


def phone_question(w: World, p: Person) -> Story:
    """A question settled on the call, sometimes with a link sent by text afterwards."""
    agent, order = w.pick(CONTACT_CENTRE), w.order()
    case = w.call(
        p,
        f"Asked when order {order} will arrive: it is with the courier, due tomorrow. Offered "
        "to text the tracking link.",
        agent,
    ).case_id
    assign(w.db, w.env, Actor.agent(agent), case, agent)
    if p.mobile:
        yield w.staffed(w.minutes(1, 5))
        # Named, because a text to the landline on file would never arrive.
        tracking = f"Tracking for {order}: https://track.example/{order}"
        w.reply(agent, case, tracking, Channel.SMS, to=p.sender(Channel.SMS))
    w.status(agent, case, CaseStatus.RESOLVED)


def colour_question(w: World, p: Person) -> Story:
    """A product question by email that waits on the customer, who may never answer."""
    item, agent = w.item(), w.pick(CONTACT_CENTRE)
    case = w.say(
        p,
        Channel.EMAIL,
        f"Hi,\n\nDoes the {item} come in any other colours? The website only shows one.\n\n"
        f"{p.first}",
        subject=f"{item[0].upper()}{item[1:]} colours",
        topic="product question",
    ).case_id
    yield w.staffed(w.hours(1, 24))
    w.reply(
        agent,
        case,
        f"Hi {p.first},\n\nIt also comes in sage and in ink blue, back in stock next week. "
        f"Shall I reserve one for you?\n\nKind regards,\n{w.sign(agent)}",
    )
    w.status(agent, case, CaseStatus.PENDING)
    if w.rng.random() < 0.4:
        # No answer: after a week the desk resolves it, unless that is still to come.
        yield w.days(7, 9)
        w.status(None, case, CaseStatus.RESOLVED)
        return
    yield w.hours(2, 48)
    w.say(p, Channel.EMAIL, "Yes please, the sage one. Thank you!")
    yield w.staffed(w.hours(1, 8))
    w.reply(agent, case, f"Reserved in sage for you, {p.first}. We'll email when it ships.")
    w.status(agent, case, CaseStatus.RESOLVED)


def made_to_measure(w: World, p: Person) -> Story:
    """A made-to-measure blind: the agent asks for measurements and the case waits."""
    agent = w.pick(CONTACT_CENTRE)
    case = w.say(
        p,
        Channel.EMAIL,
        "Hello,\n\nDo you make roman blinds to measure? Our kitchen window is an odd size."
        f"\n\nBest wishes,\n{p.first}",
        subject="Made-to-measure roman blind",
        topic="product question",
    ).case_id
    yield w.staffed(w.hours(1, 20))
    w.reply(
        agent,
        case,
        f"Hi {p.first},\n\nWe do. Could you send the recess width and drop in centimetres, and "
        f"whether you'd like it inside or outside the recess?\n\nKind regards,\n{w.sign(agent)}",
    )
    w.status(agent, case, CaseStatus.PENDING)
