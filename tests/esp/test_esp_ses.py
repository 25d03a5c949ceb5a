"""SES via SNS: signature v1/v2, certificate host rules, confirmations, events; SES v2 sending, SigV4."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from esp_helpers import fixture_bytes, fixture_json

from app.esp import ses, sigv4, sns
from app.esp.events import EventType, WebhookError, WebhookSettings
from app.esp.outgoing import OutgoingEmail, SenderConfig

CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"
SENT_AT = "2017-08-05T00:41:03.000Z"
NOW = datetime(2017, 8, 5, 0, 42, tzinfo=UTC).timestamp()


@pytest.fixture(autouse=True)
def _fresh_cache():
    sns.clear_cert_cache()
    yield
    sns.clear_cert_cache()


def envelope(message: str, kind: str = "Notification", **extra: str) -> dict:
    env = {"Type": kind, "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
           "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events", "Message": message,
           "Timestamp": SENT_AT, "SignatureVersion": "2", "SigningCertURL": CERT_URL,
           "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"}
    env.update(extra)
    return env


def sign(env: dict, key, version: str = "2") -> bytes:
    env = {**env, "SignatureVersion": version}
    digest = hashes.SHA256() if version == "2" else hashes.SHA1()
    signature = key.sign(sns.string_to_sign(env), padding.PKCS1v15(), digest)
    return json.dumps({**env, "Signature": base64.b64encode(signature).decode()}).encode()


class Fetcher:
    def __init__(self, pem: bytes) -> None:
        self.pem, self.calls = pem, []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        return self.pem


def fail(body: bytes, settings: WebhookSettings, now: float = NOW, headers: dict | None = None) -> int:
    with pytest.raises(WebhookError) as err:
        ses.verify(headers or {}, body, settings, now=now)
    return err.value.status_code


@pytest.mark.parametrize("version", ["1", "2"])
def test_signature_versions_verify(version: str, rsa_key, cert_pem) -> None:
    fetch = Fetcher(cert_pem)
    body = sign(envelope(fixture_bytes("ses", "bounce.json").decode()), rsa_key, version)
    ses.verify({"x-amz-sns-message-type": "Notification"}, body, WebhookSettings(fetch_cert=fetch), now=NOW)
    ses.verify({}, body, WebhookSettings(fetch_cert=fetch), now=NOW)
    assert fetch.calls == [CERT_URL]  # the certificate is cached


def test_subject_is_signed_when_present(rsa_key, cert_pem) -> None:
    s = WebhookSettings(fetch_cert=Fetcher(cert_pem))
    body = sign(envelope("{}", Subject="Amazon SES Email Event Notification"), rsa_key)
    ses.verify({}, body, s, now=NOW)
    tampered = json.loads(body)
    tampered["Subject"] = "other"
    assert fail(json.dumps(tampered).encode(), s) == 401


def test_v1_signature_presented_as_v2_fails(rsa_key, cert_pem) -> None:
    body = json.loads(sign(envelope("{}"), rsa_key, "1"))
    body["SignatureVersion"] = "2"
    assert fail(json.dumps(body).encode(), WebhookSettings(fetch_cert=Fetcher(cert_pem))) == 401


def test_tampered_stale_unsupported_and_type_mismatch(rsa_key, cert_pem) -> None:
    s = WebhookSettings(fetch_cert=Fetcher(cert_pem))
    good = sign(envelope(fixture_bytes("ses", "delivery.json").decode()), rsa_key)
    assert fail(good.replace(b"recipient@example.com", b"attacker@example.com"), s) == 401
    assert fail(good, s, now=NOW + 300) == 401  # Timestamp is 357 s old by then
    assert fail(good, s, headers={"x-amz-sns-message-type": "SubscriptionConfirmation"}) == 401
    assert fail(json.dumps({**json.loads(good), "SignatureVersion": "3"}).encode(), s) == 401
    assert fail(json.dumps({**json.loads(good), "Signature": "***"}).encode(), s) == 401
    assert fail(b"[]", s) == 400


@pytest.mark.parametrize("url", [
    "https://sns.us-east-1.amazonaws.com.evil.com/cert.pem",
    "http://sns.us-east-1.amazonaws.com/cert.pem",
    "https://evil.com/sns.us-east-1.amazonaws.com/cert.pem",
    "https://sns.us-east-1.amazonaws.com@evil.com/cert.pem",
    "https://user@sns.us-east-1.amazonaws.com/cert.pem",
    "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
    "https://s3.us-east-1.amazonaws.com/cert.pem",
    "https://sns.us-east-1.amazonaws.com/cert.txt",
    "https://xsns.us-east-1.amazonaws.com/cert.pem",
    "https://sns.us-east-١.amazonaws.com/cert.pem",
    "https://[::1/cert.pem",
])
def test_foreign_certificate_hosts_are_refused_before_fetching(url: str, rsa_key, cert_pem) -> None:
    fetch = Fetcher(cert_pem)
    body = sign(envelope("{}", SigningCertURL=url), rsa_key)
    assert fail(body, WebhookSettings(fetch_cert=fetch)) == 401
    assert fetch.calls == []


@pytest.mark.parametrize("url", [CERT_URL, "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
                                 "https://sns.us-gov-west-1.amazonaws.com/x.pem",
                                 "https://sns.ap-southeast-2.amazonaws.com:443/x.pem"])
def test_real_sns_hosts_are_accepted(url: str) -> None:
    assert sns.is_sns_url(url, pem=True)


def test_certificate_from_another_key_fails(cert_pem) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = sign(envelope("{}"), other)
    assert fail(body, WebhookSettings(fetch_cert=Fetcher(cert_pem))) == 401


def test_unloadable_certificate_is_401(rsa_key) -> None:
    def broken(url: str) -> bytes:
        raise OSError("network down")

    body = sign(envelope("{}"), rsa_key)
    assert fail(body, WebhookSettings(fetch_cert=broken)) == 401
    assert fail(body, WebhookSettings(fetch_cert=lambda url: b"not a pem")) == 401


def test_subscription_confirmation(rsa_key, cert_pem) -> None:
    raw = fixture_json("ses", "subscription_confirmation.json")
    raw["Timestamp"] = SENT_AT
    body = sign(raw, rsa_key, "1")
    ses.verify({}, body, WebhookSettings(fetch_cert=Fetcher(cert_pem)), now=NOW)
    assert ses.parse(body) == []
    assert ses.subscription_confirm_url(body) == raw["SubscribeURL"]
    # the Token and SubscribeURL are signed for confirmations
    forged = json.loads(body)
    forged["SubscribeURL"] = forged["SubscribeURL"].replace("Token=", "Token=x")
    assert fail(json.dumps(forged).encode(), WebhookSettings(fetch_cert=Fetcher(cert_pem))) == 401


def test_subscription_confirm_url_refuses_foreign_hosts() -> None:
    raw = fixture_json("ses", "subscription_confirmation.json")
    raw["SubscribeURL"] = "https://sns.us-west-2.amazonaws.com.evil.com/?Action=ConfirmSubscription"
    with pytest.raises(WebhookError) as err:
        ses.subscription_confirm_url(json.dumps(raw).encode())
    assert err.value.status_code == 400
    assert ses.subscription_confirm_url(json.dumps(envelope("{}")).encode()) is None


MID = "0123456789abcdef0123456789abcdef"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 10_3_3 like Mac OS X) AppleWebKit/603.3.8 (KHTML, like Gecko) "
          "Mobile/14G60")
WIN_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/60.0.3112.90 Safari/537.36")


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


BASE = dict(recipient="recipient@example.com", message_id=MID, bounce_class=None, reject_reason=None,
            click_url=None, user_agent=None, ip=None, machine_flag=None)
EXPECTED = {
    "bounce.json": BASE | dict(event_type=EventType.BOUNCED, timestamp=t("2017-08-05T00:41:02.669Z"),
                               message_id="1" * 32, bounce_class="hard",
                               reject_reason="smtp; 550 5.1.1 user unknown"),
    "transient_bounce.json": BASE | dict(event_type=EventType.BOUNCED, timestamp=t("2017-08-05T00:41:05.000Z"),
                                         recipient="full@example.com", message_id="2" * 32, bounce_class="soft",
                                         reject_reason="smtp; 452 4.2.2 mailbox full"),
    "complaint.json": BASE | dict(event_type=EventType.COMPLAINED, timestamp=t("2017-08-05T00:41:02.669Z")),
    "delivery.json": BASE | dict(event_type=EventType.DELIVERED, timestamp=t("2016-10-19T23:21:04.133Z")),
    "open.json": BASE | dict(event_type=EventType.OPENED, timestamp=t("2017-08-09T22:00:19.652Z"),
                             user_agent=IPHONE, ip="192.0.2.1"),
    "click.json": BASE | dict(event_type=EventType.CLICKED, timestamp=t("2017-08-09T23:51:25.570Z"),
                              click_url="http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html",
                              user_agent=WIN_CHROME, ip="192.0.2.1"),
    "reject.json": BASE | dict(event_type=EventType.DROPPED, timestamp=t("2016-10-14T17:38:15.211Z"),
                               recipient="sender@example.com", reject_reason="Bad content"),
    "delivery_delay.json": BASE | dict(event_type=EventType.DEFERRED, timestamp=t("2020-06-16T00:25:40.095Z"),
                                       reject_reason="smtp; 421 4.4.1 Unable to connect to remote host"),
    "send.json": BASE | dict(event_type=EventType.UNKNOWN, timestamp=t("2016-10-14T05:02:16.645Z")),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_every_field(name: str) -> None:
    inner = fixture_bytes("ses", name).decode()
    [event] = ses.parse(json.dumps(envelope(inner)).encode())
    got = asdict(event)
    assert got.pop("esp_message_id") is None
    assert got.pop("provider") == "ses"
    assert got.pop("esp_event") == json.loads(inner)
    assert len(got.pop("dedup_key")) == 32
    assert got == EXPECTED[name]


def test_one_event_per_bounced_recipient_and_notification_type() -> None:
    raw = fixture_json("ses", "bounce.json")
    raw["bounce"]["bouncedRecipients"].append({"emailAddress": "two@example.com", "diagnosticCode": "x"})
    raw["notificationType"] = raw.pop("eventType")  # identity notifications use notificationType
    events = ses.parse(json.dumps(envelope(json.dumps(raw))).encode())
    assert [e.recipient for e in events] == ["recipient@example.com", "two@example.com"]
    assert events[0].dedup_key != events[1].dedup_key


@pytest.mark.parametrize("body", [
    json.dumps(envelope("not json")), json.dumps(envelope("[]")), json.dumps(envelope('{"eventType": "Open"}')),
    json.dumps({"Type": "Notification", "Message": 5}), json.dumps({"Type": "Other"}),
    json.dumps(envelope('{"eventType": "Open", "mail": {}, "open": {"timestamp": "later"}}'))])
def test_malformed_is_400(body: str) -> None:
    with pytest.raises(WebhookError) as err:
        ses.parse(body.encode())
    assert err.value.status_code == 400


# --- sending -------------------------------------------------------------------------------------

VECTOR = dict(access_key="AKIDEXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
              region="us-east-1", service="service", amz_date="20150830T123600Z")


@pytest.mark.parametrize(("method", "url", "signature"), [
    ("GET", "https://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("POST", "https://example.amazonaws.com/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
])
def test_sigv4_matches_the_aws_test_suite(method: str, url: str, signature: str) -> None:
    # get-vanilla, post-vanilla and get-vanilla-query-order-key-case from AWS's SigV4 test suite
    headers = sigv4.sign(method, url, {}, b"", **VECTOR)
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}")
    assert headers["X-Amz-Date"] == "20150830T123600Z"


CFG = SenderConfig(provider="ses", api_key="AKIDEXAMPLE:secret:session-token", base_url=None, domain=None,
                   from_email="news@shop.example", from_name="Shop", region="eu-west-1")


def email(i: int) -> OutgoingEmail:
    return OutgoingEmail(message_id=f"{i:032x}", to_email=f"u{i}@example.com", to_name=None, subject="S",
                         html="<p>h</p>", text="h",
                         headers={"List-Unsubscribe": f"<https://sw.example/u/t{i}>",
                                  "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


def test_send_email_request_is_signed_and_complete() -> None:
    requests = ses.build_requests(CFG, [email(1), email(2)])
    assert len(requests) == 2
    req = requests[0]
    assert req.url == "https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails"
    assert req.json is None and req.content is not None
    payload = json.loads(req.content)
    assert payload["EmailTags"] == [{"Name": "message_id", "Value": f"{1:032x}"}]
    assert payload["Destination"] == {"ToAddresses": ["u1@example.com"]}
    assert payload["FromEmailAddress"] == "Shop <news@shop.example>"
    simple = payload["Content"]["Simple"]
    assert simple["Headers"][0] == {"Name": "List-Unsubscribe", "Value": "<https://sw.example/u/t1>"}
    assert simple["Body"]["Text"]["Data"] == "h" and simple["Body"]["Html"]["Data"] == "<p>h</p>"
    assert req.headers["X-Amz-Security-Token"] == "session-token"
    auth = req.headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/ses/aws4_request" in auth
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token," in auth
    # re-signing the same bytes at the same instant reproduces the header: the body is what was signed
    again = sigv4.sign("POST", req.url, {"Content-Type": "application/json"}, req.content,
                       access_key="AKIDEXAMPLE", secret_key="secret", region="eu-west-1", service="ses",
                       amz_date=req.headers["X-Amz-Date"], session_token="session-token")
    assert again["Authorization"] == auth


def test_ses_responses() -> None:
    req = ses.build_requests(CFG, [email(1)])[0]
    ok = ses.interpret_response(CFG, req, 200, {}, b'{"MessageId": "0100018c-abc"}')
    assert ok.accepted == {f"{1:032x}": "0100018c-abc"}
    throttled = ses.interpret_response(CFG, req, 400, {"x-amzn-ErrorType": "LimitExceededException:"}, b"{}")
    assert throttled.retryable and not throttled.failed
    rejected = ses.interpret_response(CFG, req, 400, {"x-amzn-ErrorType": "MessageRejected"},
                                      b'{"message": "Email address is not verified."}')
    assert rejected.failed == {f"{1:032x}": "MessageRejected: HTTP 400: Email address is not verified."}
    assert ses.interpret_response(CFG, req, 500, {}, b"").retryable
