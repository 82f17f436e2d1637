"""The last hour and a half before the present, told so that every screen has something
live to show the moment the demo opens: texts and posts whose reply clocks are near due
or already breached, a message answered in time, trade mail waiting in the queue while
the trade desk is away, a call-back a customer was promised, and (while the phone line
is open) a caller still waiting in the queue.

Everything goes through the public actions, on the demo's own clock, in time order."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from threadline.actions import Actor, receive
from threadline.actions.calls import IncomingCall, answer_incoming_call, request_call_back
from threadline.channels.base import Inbound
from threadline.channels.email.outgoing import email_thread_key
from threadline.demo.data import SOCIAL, TRADE_DESK
from threadline.demo.people import Person, new_person
from threadline.demo.world import World, _external_id
from threadline.models import Team
from threadline.service_levels.calendars import is_open
from threadline.vocabulary import Channel

SignUp = Callable[[World, Person], Person]


def fresh_arrivals(w: World, end: datetime, sign_up: SignUp) -> None:
    """Contacts from `end` - 80 min to `end` - 8 min (see the module's docstring);
    `sign_up` makes each new customer the way the rest of the demo does."""
    trade_desk = w.db.scalar(select(Team.id).where(Team.name == TRADE_DESK))

    def person(*needs: Channel, segment: str | None = None) -> Person:
        made = new_person(w.pool, frozenset(needs))
        if segment is not None:
            made = dataclasses.replace(made, segment=segment)
        return sign_up(w, made)

    # A text 80 minutes ago, unanswered past its hour: breached; the customer asked to be
    # rung back, and the supervisor promised it.
    w.clock.set(end - timedelta(minutes=80))
    texter = person(Channel.SMS)
    texted = w.say(
        texter, Channel.SMS, "Hi, my order says delivered but nothing came. Can someone ring me?"
    )
    w.clock.set(end - timedelta(minutes=55))
    request_call_back(w.db, w.env, Actor.agent(w.supervisor), texted.case_id)

    # A public post 50 minutes ago: its first-reply hour warns at 48 minutes.
    w.clock.set(end - timedelta(minutes=50))
    poster = person(Channel.X)
    w.say(poster, Channel.X, f"@HarbourVine still waiting on my {w.item()}… any news?", public=True)

    # A WhatsApp message answered within ten minutes: met on time.
    w.clock.set(end - timedelta(minutes=40))
    chatter = person(Channel.WHATSAPP)
    asked = w.say(chatter, Channel.WHATSAPP, "Do you have the oak bench in stock in store?")
    w.clock.set(end - timedelta(minutes=31))
    w.reply(w.pick(SOCIAL), asked.case_id, "We do: two in the Harbour Street shop today.")

    # Trade mail while the trade desk is away: it waits for them, unowned.
    for minutes, text in (
        (25, "Please send a copy of invoice HV-T-2291, our accounts need it today."),
        (8, "Can we add 12 more linen runners to this week's order?"),
    ):
        w.clock.set(end - timedelta(minutes=minutes))
        trader = person(Channel.EMAIL, segment="trade")
        external_id = _external_id(w.rng, Channel.EMAIL)
        receive(
            w.db,
            w.env,
            Inbound(
                channel=Channel.EMAIL,
                external_id=external_id,
                thread_key=email_thread_key(external_id),
                sender=trader.sender(Channel.EMAIL),
                text=f"Hello,\n\n{text}\n\nThanks,\n{trader.first}",
                subject=text.split(",")[0].split(".")[0][:60],
                team_id=trade_desk,
            ),
        )

    # A caller rang two minutes ago and waits in the queue: the wallboard's waiting call.
    # Outside the line's hours nobody queues (a caller is offered voicemail), so neither
    # does the demo's.
    w.clock.set(end - timedelta(minutes=2))
    hours = w.env.settings.phone_hours.strip() or None
    if is_open(w.env.book.get(w.db.connection()).calendar(hours), w.clock.now()):
        caller = person(Channel.PHONE)
        number = caller.sender(Channel.PHONE).value
        sid = _external_id(w.rng, Channel.PHONE)
        answer_incoming_call(
            w.db,
            w.env,
            IncomingCall(sid=sid, caller=number, our_number=None, caller_name=None, key=sid),
        )
    w.clock.set(end)
