"""Reading the provider's forms: every branch of the inbound text, the consent keywords,
the status callback, and what lands when files could not be fetched. Pure functions."""

from __future__ import annotations

import pytest

from threadline.channels.base import IdentityRef, IncomingFile
from threadline.channels.twilio.sms import (
    Keyword,
    MediaRef,
    MissingMedia,
    SmsMessage,
    consent_keyword,
    describe_error,
    parse_message,
    parse_status,
    to_inbound,
)
from threadline.errors import InvalidInput
from threadline.vocabulary import Channel, Delivery, IdentityKind

SID = "SM" + "a" * 32
BASE = {"MessageSid": SID, "From": "+447700900123", "To": "+442071838750", "Body": "Hi"}


def parse(**changes: str | None) -> SmsMessage:
    form = {k: v for k, v in (BASE | changes).items() if v is not None}
    return parse_message(form.items(), region="GB")


# Keywords


@pytest.mark.parametrize(
    "body", ["STOP", "stop", " Stop \n", "STOPALL", "unsubscribe", "Cancel", "END", "quit"]
)
def test_the_stop_words_opt_out(body: str) -> None:
    assert consent_keyword(body) == Keyword(body.strip().upper(), opted_out=True)


@pytest.mark.parametrize("body", ["START", "start", " Yes ", "UNSTOP"])
def test_the_start_words_opt_in(body: str) -> None:
    assert consent_keyword(body) == Keyword(body.strip().upper(), opted_out=False)


@pytest.mark.parametrize(
    "body", ["", "   ", "please stop", "STOP!", "stop it", "STOP STOP", "no", "HELP", "s t o p"]
)
def test_anything_else_is_a_message(body: str) -> None:
    assert consent_keyword(body) is None


# The inbound text


def test_a_text_from_a_phone() -> None:
    message = parse(NumSegments="2", NumMedia="0")
    assert message == SmsMessage(
        sid=SID,
        channel=Channel.SMS,
        sender=IdentityRef(IdentityKind.PHONE, "+447700900123"),
        number="+447700900123",
        to="+442071838750",
        body="Hi",
        segments=2,
    )


def test_a_national_number_is_read_in_the_default_region() -> None:
    message = parse(From="07700 900123")
    assert message.number == "+447700900123"
    assert message.sender == IdentityRef(IdentityKind.PHONE, "+447700900123")


def test_the_deprecated_sids_stand_in_for_a_missing_message_sid() -> None:
    assert parse(MessageSid=None, SmsMessageSid="SM1").sid == "SM1"
    assert parse(MessageSid=None, SmsSid="SM2").sid == "SM2"


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"MessageSid": None}, "no MessageSid"),
        ({"MessageSid": "  "}, "no MessageSid"),
        ({"From": None}, "no From"),
        ({"From": ""}, "no From"),
        ({"From": "whatsapp:+12"}, "'+12' is not a phone number"),
    ],
)
def test_a_form_without_a_message_or_a_sender_is_refused(
    changes: dict[str, str | None], said: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse(**changes)
    assert said in refused.value.message


@pytest.mark.parametrize(
    ("sender", "value"), [("ACME Bank", "sms:ACME-Bank"), ("72404", "sms:72404")]
)
def test_a_sender_that_is_no_phone_number_is_kept_but_cannot_be_texted(
    sender: str, value: str
) -> None:
    message = parse(From=sender)
    assert message.channel is Channel.SMS and message.number is None
    assert message.sender == IdentityRef(IdentityKind.EXTERNAL, value, sender)


def test_a_whatsapp_message() -> None:
    message = parse(
        From="whatsapp:+447700900123",
        To="whatsapp:+442071838750",
        ProfileName=" Ann Smith ",
        WaId="447700900123",
    )
    assert message.channel is Channel.WHATSAPP and message.number is None
    assert message.sender == IdentityRef(IdentityKind.WHATSAPP, "447700900123", "Ann Smith")
    # Without WaId the address itself gives the id.
    assert parse(From="WhatsApp:+447700900123").sender.value == "447700900123"


def test_files_are_read_from_their_urls_whatever_num_media_says() -> None:
    message = parse(
        NumMedia="1",  # wrong: there are three
        MediaUrl0="https://api.example/m/0",
        MediaContentType0="image/jpeg",
        MediaUrl1="https://api.example/m/1",
        MediaUrl2="  ",  # empty: skipped
        MediaUrl3="https://api.example/m/3",
        MediaContentType3="video/mp4",
        MediaUrl10="https://api.example/m/10",  # beyond the provider's ten
    )
    assert message.media == (
        MediaRef("https://api.example/m/0", "image/jpeg"),
        MediaRef("https://api.example/m/1", ""),
        MediaRef("https://api.example/m/3", "video/mp4"),
    )


def test_a_repeated_name_keeps_its_first_value() -> None:
    form = [*BASE.items(), ("Body", "second")]
    assert parse_message(form, region="GB").body == "Hi"


@pytest.mark.parametrize("segments", ["", "two", "-1"])
def test_a_segment_count_that_is_no_number_is_left_out(segments: str) -> None:
    assert parse(NumSegments=segments).segments is None


# What lands


def test_a_text_becomes_an_inbound_message() -> None:
    photo = IncomingFile("media-1.jpg", "image/jpeg", b"jpeg")
    inbound = to_inbound(parse(NumSegments="1"), [photo])
    assert (inbound.channel, inbound.external_id, inbound.text) == (Channel.SMS, SID, "Hi")
    assert inbound.sender == IdentityRef(IdentityKind.PHONE, "+447700900123")
    assert inbound.attachments == (photo,)
    assert inbound.meta == {"to": "+442071838750", "segments": 1}


def test_files_not_fetched_are_named_in_the_text_and_the_meta() -> None:
    missing = [
        MissingMedia("https://api.example/m/0", "image/jpeg", "the provider answered 404"),
        MissingMedia("https://api.example/m/1", "a file", "no time was left"),
    ]
    inbound = to_inbound(parse(), (), missing)
    assert inbound.text == (
        "Hi\n\n[image/jpeg not fetched: https://api.example/m/0]\n"
        "[a file not fetched: https://api.example/m/1]"
    )
    assert inbound.meta["media_not_fetched"] == [
        {"url": m.url, "content_type": m.content_type, "error": m.error} for m in missing
    ]
    assert to_inbound(parse(Body="  "), (), missing[:1]).text == (
        "[image/jpeg not fetched: https://api.example/m/0]"
    )


# Status callbacks


@pytest.mark.parametrize(
    ("status", "delivery"),
    [
        ("queued", None),
        ("accepted", None),
        ("scheduled", None),
        ("sending", None),
        ("receiving", None),
        ("received", None),
        ("something-new", None),
        ("", None),
        ("sent", Delivery.SENT),
        ("partially_delivered", Delivery.SENT),
        ("delivered", Delivery.DELIVERED),
        ("Delivered", Delivery.DELIVERED),
        ("read", Delivery.READ),
        ("undelivered", Delivery.FAILED),
        ("failed", Delivery.FAILED),
        ("canceled", Delivery.FAILED),
    ],
)
def test_each_status_says_what_it_means_for_the_reply(
    status: str, delivery: Delivery | None
) -> None:
    report = parse_status({"MessageSid": SID, "MessageStatus": status}.items())
    assert (report.sid, report.delivery) == (SID, delivery)
    assert (report.error is not None) == (delivery is Delivery.FAILED)


def test_a_failure_carries_the_providers_error_code() -> None:
    form = {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "30007"}
    report = parse_status(form.items())
    assert report.error == (
        "the provider reported the text undelivered "
        "(error 30007: the carrier filtered the message as spam)"
    )
    no_code = parse_status({"MessageSid": SID, "MessageStatus": "failed"}.items())
    assert no_code.error == "the provider reported the text failed (no error code given)"


def test_a_status_callback_without_a_message_is_refused() -> None:
    with pytest.raises(InvalidInput):
        parse_status({"MessageStatus": "delivered"}.items())
    assert parse_status({"SmsSid": SID, "SmsStatus": "sent"}.items()).delivery is Delivery.SENT


def test_error_codes_are_explained_where_known() -> None:
    assert describe_error(None) == "no error code given"
    assert describe_error(30003) == "error 30003: the phone is switched off or out of reach"
    assert describe_error(12345) == "error 12345"
