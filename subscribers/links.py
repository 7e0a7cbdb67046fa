"""The signed personal links that go into every email (digest's ``LinkBuilder``).

Computes only. Each link carries a token from ``tokens``; the List-Unsubscribe mailto
carries the unsubscribe token in its subject, so whatever reads that mailbox can act on it
without trusting the sender's address.
"""

from __future__ import annotations

from digest.render.personal import PersonalLinks, Recipient
from subscribers.tokens import Purpose, Tokens


class SignedLinks:
    def __init__(self, tokens: Tokens, public_url: str, unsubscribe_mailbox: str | None) -> None:
        self.tokens = tokens
        self.public_url = public_url.rstrip("/")
        self.mailbox = unsubscribe_mailbox

    def personal_links(
        self, recipient: Recipient, newsletter: str, edition_id: str
    ) -> PersonalLinks:
        tokens = self.tokens.make_personal(int(recipient.id), newsletter, edition_id)
        unsubscribe, preferences, view = tokens
        return PersonalLinks(
            unsubscribe_url=f"{self.public_url}/unsubscribe/{unsubscribe}",
            preferences_url=f"{self.public_url}/preferences/{preferences}",
            view_url=f"{self.public_url}/view/{view}",
            unsubscribe_mailto=self._mailto(unsubscribe),
        )

    def confirm_url(self, subscriber_id: int, newsletter: str) -> str:
        token = self.tokens.make(Purpose.CONFIRM, subscriber_id, newsletter)
        return f"{self.public_url}/confirm/{token}"

    def leaving_links(self, subscriber_id: int, newsletter: str) -> tuple[str, str | None]:
        """The unsubscribe URL and mailto of a mail that is not an edition (a confirmation)."""
        token = self.tokens.make(Purpose.UNSUBSCRIBE, subscriber_id, newsletter)
        return f"{self.public_url}/unsubscribe/{token}", self._mailto(token)

    def preferences_url(self, subscriber_id: int, newsletter: str) -> str:
        token = self.tokens.make(Purpose.PREFERENCES, subscriber_id, newsletter)
        return f"{self.public_url}/preferences/{token}"

    def _mailto(self, unsubscribe_token: str) -> str | None:
        if not self.mailbox:
            return None
        # a token is base64url and dots, which quote() leaves alone: only the space needs it
        return f"mailto:{self.mailbox}?subject=unsubscribe%20{unsubscribe_token}"
