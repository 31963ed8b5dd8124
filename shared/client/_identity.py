"""Signup, tokens and users."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from shared.client._core import ClientCore
from shared.client._pagination import JSONObject, Page, iterate

Role = Literal["owner", "admin", "accountant", "viewer"]
UserStatus = Literal["active", "disabled"]


class IdentityMethods(ClientCore):
    def sign_up(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> JSONObject:
        """A new tenant and its owner (``email``, ``password``, ``name``, ``organization``)."""
        return self._object("sign_up", body=body, idempotency_key=idempotency_key)

    def log_in(self, email: str, password: str) -> JSONObject:
        """Take a token pair; later calls send its access token and refresh it before it
        expires (or once when it is refused). Returns the pair."""
        pair = self._object("log_in", body={"email": email, "password": password})
        self._start_session(pair)
        return pair

    def refresh_tokens(self, refresh_token: str | None = None) -> JSONObject:
        """A new token pair for ``refresh_token`` (default: this client's); it becomes
        this client's session."""
        if refresh_token is None:
            if self._session is None:
                raise ValueError("no session to refresh: log in first or pass refresh_token")
            refresh_token = self._session.refresh_token
        pair = self._object("refresh_tokens", body={"refresh_token": refresh_token})
        self._start_session(pair)
        return pair

    def log_out(self) -> None:
        """End the session on the server and forget its tokens here."""
        self._nothing("log_out")
        self._session = None

    def request_password_reset(self, body: Mapping[str, Any]) -> JSONObject:
        """Ask for a reset email (``email``); the answer is the same whether or not the
        address exists."""
        return self._object("request_password_reset", body=body)

    def confirm_password_reset(self, body: Mapping[str, Any]) -> None:
        """Set a new password (``token``, ``new_password``); every session of the user ends."""
        self._nothing("confirm_password_reset", body=body)

    def verify_email(self, body: Mapping[str, Any]) -> None:
        """Prove control of the address with the token of its verification email (``token``)."""
        self._nothing("verify_email", body=body)

    def resend_verification_email(self) -> JSONObject:
        """Email the signed-in user a new verification token."""
        return self._object("resend_verification_email")

    def get_signing_keys(self) -> JSONObject:
        """The public keys that verify access tokens (a JWKS document)."""
        return self._object("get_signing_keys")

    def list_users(
        self,
        *,
        role: Role | None = None,
        status: UserStatus | None = None,
        email_prefix: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        query = {"role": role, "status": status, "email_prefix": email_prefix}
        return self._page("list_users", query={**query, "limit": limit, "cursor": cursor})

    def iter_users(
        self,
        *,
        role: Role | None = None,
        status: UserStatus | None = None,
        email_prefix: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[JSONObject]:
        return iterate(
            lambda cursor: self.list_users(
                role=role, status=status, email_prefix=email_prefix, limit=page_size, cursor=cursor
            )
        )

    def add_user(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSONObject:
        """Invite someone to the tenant (``email``, ``name``, ``role``); returns the
        invitation. The user exists once the invitee accepts (:meth:`accept_invitation`)."""
        return self._object("add_user", body=body, idempotency_key=idempotency_key)

    def list_invitations(self, *, limit: int | None = None, cursor: str | None = None) -> Page:
        return self._page("list_invitations", query={"limit": limit, "cursor": cursor})

    def iter_invitations(self, *, page_size: int | None = None) -> Iterator[JSONObject]:
        return iterate(lambda cursor: self.list_invitations(limit=page_size, cursor=cursor))

    def get_invitation(self, invitation_id: str) -> JSONObject:
        return self._object("get_invitation", path={"invitation_id": invitation_id})

    def resend_invitation(self, invitation_id: str) -> JSONObject:
        """Email a new token; the previous one stops working."""
        return self._object("resend_invitation", path={"invitation_id": invitation_id})

    def revoke_invitation(self, invitation_id: str) -> JSONObject:
        return self._object("revoke_invitation", path={"invitation_id": invitation_id})

    def accept_invitation(self, body: Mapping[str, Any]) -> JSONObject:
        """Accept an invitation (``token``, ``password``); returns the new user."""
        return self._object("accept_invitation", body=body)

    def get_me(self) -> JSONObject:
        return self._object("get_me")

    def update_me(self, body: Mapping[str, Any]) -> JSONObject:
        return self._object("update_me", body=body)

    def change_password(self, body: Mapping[str, Any]) -> None:
        self._nothing("change_password", body=body)

    def get_user(self, user_id: str) -> JSONObject:
        return self._object("get_user", path={"user_id": user_id})

    def change_user_role(self, user_id: str, body: Mapping[str, Any]) -> JSONObject:
        return self._object("change_user_role", path={"user_id": user_id}, body=body)

    def change_user_status(self, user_id: str, body: Mapping[str, Any]) -> JSONObject:
        return self._object("change_user_status", path={"user_id": user_id}, body=body)
