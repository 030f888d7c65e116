"""Accounts, written: registration, password checks, login sessions (tokens) and their
clean-up. The read-only look-ups are in accounts.selectors."""

import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import bcrypt
from asgiref.sync import sync_to_async
from bson import ObjectId
from django.conf import settings
from mongoengine.errors import NotUniqueError

from accounts import selectors
from accounts.credentials import token_digest
from accounts.documents import User
from animomeet.clock import utcnow
from animomeet.ratelimit import Limit, LoginThrottle, client_network

NAME_MAX_LENGTH = 100
USERNAME_MAX_LENGTH = 50
USERNAME_PATTERN = re.compile(rf"[A-Za-z0-9_.-]{{1,{USERNAME_MAX_LENGTH}}}")
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
# bcrypt reads at most 72 bytes. Node's bcrypt drops the rest silently; the Python one
# refuses longer input, so cut it the same way to verify passwords hashed by Node.
BCRYPT_MAX_BYTES = 72


SIGNUPS = Limit("signup", lambda: settings.RATE_LIMIT_SIGNUP)  # per client address
LOGIN_THROTTLE = LoginThrottle("login")
# Where logins and signups run (bcrypt, and the cache and database calls around it).
# Django would run each request's synchronous code on a thread of its own: a burst of 40
# logins would be 40 bcrypt threads sharing the cores with every other request of the
# process (a check-meet then took up to a second). Here at most PASSWORD_HASH_THREADS
# hash at once and the others wait their turn without holding a thread.
_PASSWORD_WORK = ThreadPoolExecutor(max_workers=settings.PASSWORD_HASH_THREADS, thread_name_prefix="password")


class UsernameTaken(Exception):
    pass


class UnknownUser(Exception):
    pass


class WrongPassword(Exception):
    pass


def _password_bytes(password: str) -> bytes:
    return password.encode()[:BCRYPT_MAX_BYTES]


def hash_password(password: str) -> str:
    salt = bcrypt.gensalt(rounds=settings.BCRYPT_ROUNDS, prefix=b"2b")
    return bcrypt.hashpw(_password_bytes(password), salt).decode()


def password_matches(*, password: str, hashed: str | None) -> bool:
    """Checks against $2b$ and $2a$ hashes alike; a missing or damaged hash never matches."""
    try:
        return bcrypt.checkpw(_password_bytes(password), (hashed or "").encode())
    except ValueError:
        return False


def register(*, name: str, username: str, password: str, address: str) -> User:
    """The new user, unless `address` has signed up too often lately
    (ratelimit.Refused) or the username is taken."""
    SIGNUPS.enforce(client_network(address))
    # The unique index is the real guard; asking first spares a bcrypt round on a taken name.
    if selectors.username_exists(username):
        raise UsernameTaken(username)
    user = User(name=name, username=username, password=hash_password(password))
    try:
        return user.save(force_insert=True)
    except NotUniqueError:
        raise UsernameTaken(username) from None


def login(*, username: str, password: str, address: str) -> tuple[User, str]:
    """The user and a new token, unless logins from this address or to this username
    have failed too often lately (ratelimit.Refused), the user does not exist or the
    password is wrong."""
    LOGIN_THROTTLE.check(address, username)
    user = selectors.find_user(username)
    if user is None:
        LOGIN_THROTTLE.record_failure(address, None)
        raise UnknownUser(username)
    if not password_matches(password=password, hashed=user.password):
        LOGIN_THROTTLE.record_failure(address, username)
        raise WrongPassword(username)
    LOGIN_THROTTLE.record_success(address, username)
    return user, issue_token(user)


aregister = sync_to_async(register, thread_sensitive=False, executor=_PASSWORD_WORK)
alogin = sync_to_async(login, thread_sensitive=False, executor=_PASSWORD_WORK)


def issue_token(user: User) -> str:
    """A new session token; only its digest is stored, and only the newest
    AUTH_TOKENS_PER_USER sessions of a user are kept."""
    raw_token = secrets.token_hex(20)
    now = utcnow()
    session = {
        "digest": token_digest(raw_token),
        "expiresAt": now + timedelta(seconds=settings.AUTH_TOKEN_TTL_SECONDS),
        "createdAt": now,
    }
    User.objects(id=user.id).update_one(
        __raw__={"$push": {"tokens": {"$each": [session], "$slice": -settings.AUTH_TOKENS_PER_USER}}}
    )
    return raw_token


def revoke_token(raw_token: str) -> None:
    digest = token_digest(raw_token)
    User.objects(__raw__={"tokens.digest": digest}).update_one(
        __raw__={"$pull": {"tokens": {"digest": digest}}}
    )


def end_all_sessions(user_ids: list[ObjectId]) -> int:
    """Logs these users out everywhere; returns how many there were."""
    return User.objects(id__in=user_ids).update(set__tokens=[])


def remove_expired_tokens() -> int:
    """Drops every expired session in one update; returns how many users had some."""
    expired = {"$lte": utcnow()}
    return User.objects(__raw__={"tokens.expiresAt": expired}).update(
        __raw__={"$pull": {"tokens": {"expiresAt": expired}}}
    )


def remove_legacy_tokens() -> int:
    """Drops the clear-text `token` that the Node backend stored (it never expired and no
    longer authenticates anyone); returns how many users had one."""
    return User.objects(__raw__={"token": {"$exists": True}}).update(__raw__={"$unset": {"token": ""}})
