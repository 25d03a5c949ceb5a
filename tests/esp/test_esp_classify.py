"""Human or machine: one test per rule, plus the rules that must NOT fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.esp.classify import Verdict, classify, is_scanner_user_agent
from app.esp.events import EventType, NormalizedEvent

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
MID = "a" * 32
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari"


def ev(kind: EventType, seconds: float, *, ua: str | None = SAFARI, url: str | None = None,
       flag: bool | None = None, mid: str | None = MID, recipient: str = "r@example.com") -> NormalizedEvent:
    return NormalizedEvent(provider="outbox", event_type=kind, timestamp=T0 + timedelta(seconds=seconds),
                           recipient=recipient, message_id=mid, dedup_key="k", user_agent=ua, click_url=url,
                           machine_flag=flag)


def one(event: NormalizedEvent, **kwargs) -> Verdict:
    return classify([event], **kwargs)[0]


def test_plain_human_open_and_click() -> None:
    assert classify([ev(EventType.OPENED, 3600), ev(EventType.CLICKED, 3700, url="u")],
                    delivered_at={MID: T0}) == [(True, None), (True, None)]


def test_esp_flag() -> None:
    assert one(ev(EventType.OPENED, 3600, flag=True)) == (False, "esp_flag")
    assert one(ev(EventType.CLICKED, 3600, flag=True, url="u")) == (False, "esp_flag")
    assert one(ev(EventType.OPENED, 3600, flag=False)) == (True, None)


def test_apple_proxy_user_agent_is_exactly_the_bare_token() -> None:
    assert one(ev(EventType.OPENED, 3600, ua="Mozilla/5.0")) == (False, "apple_proxy_user_agent")
    assert one(ev(EventType.OPENED, 3600, ua="Mozilla/5.0 ")) == (False, "apple_proxy_user_agent")
    assert one(ev(EventType.OPENED, 3600, ua="Mozilla/5.0 (iPhone)")) == (True, None)
    # a click with the bare token is not an MPP prefetch (MPP does not click)
    assert one(ev(EventType.CLICKED, 3600, ua="Mozilla/5.0", url="u"), opened_at={MID: T0}) == (True, None)


def test_open_seconds_after_delivery() -> None:
    assert one(ev(EventType.OPENED, 4), delivered_at={MID: T0}) == (False, "open_seconds_after_delivery")
    assert one(ev(EventType.OPENED, 11), delivered_at={MID: T0}) == (True, None)
    assert one(ev(EventType.OPENED, 4)) == (True, None)  # delivery time unknown: no opinion
    # a delivered event in the same batch counts
    batch = [ev(EventType.DELIVERED, 0), ev(EventType.OPENED, 2)]
    assert classify(batch) == [(True, None), (False, "open_seconds_after_delivery")]


def test_scanner_user_agents() -> None:
    for ua in ["Barracuda Sentinel (EE)", "Mimecast-URL-Protect", "python-requests/2.31", "curl/8.4.0",
               "Go-http-client/1.1", "Mozilla/5.0 HeadlessChrome/120.0", "Googlebot/2.1", "Proofpoint URL Defense",
               "Microsoft Office Protection Service"]:
        assert is_scanner_user_agent(ua), ua
        assert one(ev(EventType.CLICKED, 3600, ua=ua, url="u")) == (False, "scanner_user_agent")
    assert one(ev(EventType.OPENED, 3600, ua="python-requests/2.31")) == (False, "scanner_user_agent")
    assert not is_scanner_user_agent(SAFARI) and not is_scanner_user_agent(None)


def test_click_seconds_after_delivery() -> None:
    assert one(ev(EventType.CLICKED, 3, url="u"), delivered_at={MID: T0}) == (False, "click_seconds_after_delivery")


def test_many_links_at_once() -> None:
    batch = [ev(EventType.CLICKED, 600, url="a"), ev(EventType.CLICKED, 600.5, url="b"),
             ev(EventType.CLICKED, 601.5, url="c"), ev(EventType.CLICKED, 900, url="d")]
    assert classify(batch, opened_at={MID: T0}) == [(False, "many_links_at_once")] * 3 + [(True, None)]


def test_same_link_twice_or_other_messages_are_not_a_burst() -> None:
    batch = [ev(EventType.CLICKED, 600, url="a"), ev(EventType.CLICKED, 600.5, url="a"),
             ev(EventType.CLICKED, 600.7, url="b", mid="b" * 32)]
    assert classify(batch, opened_at={MID: T0, "b" * 32: T0}) == [(True, None)] * 3


def test_click_before_open_soon_after_delivery() -> None:
    assert one(ev(EventType.CLICKED, 40, url="u"), delivered_at={MID: T0}) == (
        False, "click_before_open_after_delivery")
    # opened before the click (in this batch or earlier): a fast human
    batch = [ev(EventType.OPENED, 20), ev(EventType.CLICKED, 40, url="u")]
    assert classify(batch, delivered_at={MID: T0})[1] == (True, None)
    assert one(ev(EventType.CLICKED, 40, url="u"), delivered_at={MID: T0}, opened_at={MID: T0}) == (True, None)


def test_click_without_open_alone_is_human() -> None:
    # Apple MPP users click with no human open on record
    assert one(ev(EventType.CLICKED, 7200, url="u"), delivered_at={MID: T0}) == (True, None)
    assert one(ev(EventType.CLICKED, 30, url="u")) == (True, None)  # delivery unknown


def test_other_events_are_always_human() -> None:
    kinds = [EventType.DELIVERED, EventType.BOUNCED, EventType.COMPLAINED, EventType.UNSUBSCRIBED,
             EventType.DEFERRED, EventType.DROPPED, EventType.UNKNOWN]
    events = [ev(k, 1, ua="curl/8", flag=True) for k in kinds]
    assert classify(events, delivered_at={MID: T0}) == [(True, None)] * len(kinds)


def test_events_without_message_id_are_grouped_by_recipient() -> None:
    batch = [ev(EventType.CLICKED, 600, url="a", mid=None), ev(EventType.CLICKED, 601, url="b", mid=None)]
    assert [v.reason for v in classify(batch)] == ["many_links_at_once"] * 2
