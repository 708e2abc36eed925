"""Microsoft's Graph SDK for Python (msgraph-sdk, kiota-generated) as a client of mailgate's Graph endpoint.

The SDK is used as an app written for Graph would use it; only its base URL and its credential differ: the base URL
is mailgate's, and the bearer token is a mailgate API key. Each send is one case; the script prints one JSON line per
case saying what the SDK reported (accepted, or the ODataError it raised) and leaves the judging to the caller
(tests/api/graph_sdk.rs), which also checks what reached Graph.

Environment: MAILGATE_GRAPH_BASE (e.g. http://127.0.0.1:8080/v1.0), MAILGATE_API_KEY, SDK_MAILBOX (a mailbox the
key's app may send as), SDK_DENIED_MAILBOX (one it may not).
"""

import asyncio
import json
import os
import sys
from urllib.parse import urlparse

from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.importance import Importance
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.single_value_legacy_extended_property import SingleValueLegacyExtendedProperty
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody


class ApiKey(AccessTokenProvider):
    """Hands the mailgate API key to kiota's bearer authentication, for mailgate's host only."""

    def __init__(self, key: str, host: str) -> None:
        self.key = key
        self.hosts = AllowedHostsValidator([host])

    async def get_authorization_token(self, uri: str, additional_authentication_context: dict = {}) -> str:
        return self.key if self.hosts.is_url_host_valid(uri) else ""

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self.hosts


def to(*addresses: str) -> list:
    return [Recipient(email_address=EmailAddress(address=a, name=a.split("@")[0].title())) for a in addresses]


def cases() -> dict:
    text = ItemBody(content_type=BodyType.Text, content="Plain words from the Graph SDK.")
    return {
        "text": Message(subject="sdk text", body=text, to_recipients=to("alice@example.com")),
        "html": Message(
            subject="sdk html",
            body=ItemBody(content_type=BodyType.Html, content="<p>Rich <b>words</b></p>"),
            importance=Importance.High,
            to_recipients=to("alice@example.com"),
        ),
        "cc_bcc": Message(
            subject="sdk cc bcc",
            body=text,
            to_recipients=to("alice@example.com"),
            cc_recipients=to("bob@example.com", "carol@example.com"),
            bcc_recipients=to("audit@example.com"),
        ),
        "reply_to": Message(
            subject="sdk reply to",
            body=text,
            to_recipients=to("alice@example.com"),
            reply_to=to("helpdesk@example.com"),
            is_delivery_receipt_requested=True,
        ),
        "attachments": Message(
            subject="sdk attachments",
            body=text,
            to_recipients=to("alice@example.com"),
            attachments=[
                FileAttachment(name="report.csv", content_type="text/csv", content_bytes=b"a,b\n1,2\n"),
                FileAttachment(name="blob.bin", content_type="application/octet-stream", content_bytes=bytes(range(256))),
            ],
        ),
        "extended_property": Message(
            subject="sdk extended property",
            body=text,
            to_recipients=to("alice@example.com"),
            single_value_extended_properties=[
                SingleValueLegacyExtendedProperty(id="String 0x007D", value="X-Forged: yes")
            ],
        ),
    }


async def send(client: GraphServiceClient, mailbox: str, name: str, message: Message, save: bool) -> dict:
    body = SendMailPostRequestBody(message=message, save_to_sent_items=save)
    try:
        await client.users.by_user_id(mailbox).send_mail.post(body)
        return {"case": name, "outcome": "accepted"}
    except ODataError as e:
        return {
            "case": name,
            "outcome": "odata_error",
            "status": e.response_status_code,
            "code": e.error.code if e.error else None,
            "message": e.error.message if e.error else None,
        }


async def main() -> int:
    base = os.environ["MAILGATE_GRAPH_BASE"]
    mailbox = os.environ["SDK_MAILBOX"]
    denied = os.environ["SDK_DENIED_MAILBOX"]
    auth = BaseBearerTokenAuthenticationProvider(ApiKey(os.environ["MAILGATE_API_KEY"], urlparse(base).hostname))
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = base
    client = GraphServiceClient(request_adapter=adapter)
    for name, message in cases().items():
        print(json.dumps(await send(client, mailbox, name, message, save=name != "html")), flush=True)
    denied_message = Message(subject="sdk denied", body=ItemBody(content_type=BodyType.Text, content="no"),
                             to_recipients=to("alice@example.com"))
    print(json.dumps(await send(client, denied, "denied", denied_message, save=True)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
