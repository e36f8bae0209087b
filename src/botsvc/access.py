"""Who may enter a conversation: conversation tokens, and customer ids the site vouches for.

A conversation's token is an HMAC of its id with a secret the store keeps for every replica,
so checking one costs no store read. The first response of a conversation gives the client its
token; from then on, reading, posting into or watching that conversation needs it, unless the
caller holds a server key (`BOTSVC_SERVER_KEYS`, for back ends, never for pages).

A `customer.id` sent from a browser is only a claim. It links the conversation to that
customer's other conversations (and shows them to the helpdesk) only when the site signs it:
`user_hash` = hex HMAC-SHA256 of the id with the site's identity secret, computed on the site's
server, as Intercom's identity verification does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, replace

from botsvc.domain import Customer
from botsvc.errors import AccessDenied

__all__ = ["RASA_PREFIX", "Access", "ConversationKeys", "user_hash", "vouched_customer"]

# Conversations of Rasa's channels (REST sender, socket.io session) live under this prefix: there
# the client's own unguessable id is the credential, so no id our API gives out can be reached.
RASA_PREFIX = "rasa:"


@dataclass(frozen=True)
class Access:
    """What a client showed for one conversation."""

    token: str | None = None  # the conversation token, if it gave one
    trusted: bool = False  # a server key: any conversation, customer ids taken as given


TRUSTED = Access(trusted=True)


class ConversationKeys:
    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def token(self, conversation_id: str) -> str:
        mac = hmac.new(self._key, b"conversation:" + conversation_id.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:24]).decode()

    def check(self, conversation_id: str, access: Access) -> None:
        """Raises AccessDenied unless `access` may enter this (existing) conversation."""
        if access.trusted:
            return
        if not access.token:
            raise AccessDenied(
                f"conversation {conversation_id!r} needs its conversation token "
                "(X-Conversation-Token, from the conversation's first response)",
                missing=True,
            )
        if not hmac.compare_digest(access.token.encode(), self.token(conversation_id).encode()):
            raise AccessDenied(f"wrong conversation token for {conversation_id!r}", missing=False)


def user_hash(customer_id: str, identity_secret: str) -> str:
    """What a site's server computes to vouch for a customer id (hex HMAC-SHA256)."""
    return hmac.new(identity_secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def vouched_customer(
    customer: Customer,
    *,
    conversation_id: str,
    given_hash: str | None,
    identity_secret: str | None,
    trusted: bool,
) -> Customer:
    """The customer as the conversation records it: the claimed id when a server key sent it or
    the site signed it, else an anonymous id of this conversation, the claim kept in metadata
    (`claimed_id`) for agents to see but never used to link conversations."""
    if trusted:
        return customer
    if identity_secret and given_hash:
        expected = user_hash(customer.id, identity_secret)
        if hmac.compare_digest(given_hash.lower().encode(), expected.encode()):
            return customer
    return replace(
        customer,
        id=f"anonymous:{conversation_id}",
        metadata={**customer.metadata, "claimed_id": customer.id},
    )
