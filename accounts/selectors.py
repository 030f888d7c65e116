"""Accounts, read: who holds a token, which usernames exist, how many sessions a user
has. Nothing here writes; the writes are in accounts.services."""

from collections.abc import Iterable

from accounts.credentials import TOKEN_PATTERN, token_digest
from accounts.documents import AuthToken, User
from animomeet.clock import utcnow


def user_for_token(raw_token: str) -> User | None:
    """The user holding this unexpired token, else None. Safe to call from any thread."""
    if not isinstance(raw_token, str) or not TOKEN_PATTERN.fullmatch(raw_token):
        return None
    live_session = {"$elemMatch": {"digest": token_digest(raw_token), "expiresAt": {"$gt": utcnow()}}}
    return User.objects(__raw__={"tokens": live_session}).first()


def find_user(username: str) -> User | None:
    return User.objects(username=username).first()


def username_exists(username: str) -> bool:
    return User.objects(username=username).only("id").first() is not None


def existing_usernames(usernames: Iterable[str]) -> set[str]:
    """Those of these usernames that have an account (one query)."""
    return set(User.objects(username__in=list(usernames)).scalar("username"))


def active_sessions(user: User) -> list[AuthToken]:
    """This user's unexpired sessions, oldest first."""
    now = utcnow()
    return [session for session in user.tokens if session.expiresAt > now]


def active_session_count(user: User) -> int:
    return len(active_sessions(user))
