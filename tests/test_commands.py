"""The cleanup_meetings and cleanup_tokens management commands."""

import io
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from mongoengine.errors import NotUniqueError

from accounts.documents import User
from accounts.credentials import token_digest
from accounts.selectors import user_for_token
from accounts.services import hash_password, issue_token
from animomeet.clock import utcnow
from meetings.documents import Meeting
from tests.conftest import TEST_DB_NAME
from tests.servers import ROOT


def run(command: str, *args) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def meetings():
    now = utcnow()
    Meeting(meetingCode="idle-2-days", lastActive=now - timedelta(days=2)).save()
    Meeting(meetingCode="idle-13-hours", lastActive=now - timedelta(hours=13)).save()
    Meeting(meetingCode="fresh", lastActive=now - timedelta(minutes=5)).save()


def codes() -> set[str]:
    return set(Meeting.objects.scalar("meetingCode"))


def test_cleanup_meetings_by_default_uses_the_seven_day_ttl():
    now = utcnow()
    Meeting(meetingCode="idle-8-days", lastActive=now - timedelta(days=8)).save()
    Meeting(meetingCode="idle-6-days", lastActive=now - timedelta(days=6)).save()
    Meeting(meetingCode="fresh", lastActive=now).save()

    output = run("cleanup_meetings")

    assert codes() == {"idle-6-days", "fresh"}
    assert "idle for more than 7 days" in output


# mongomock drops documents past the TTL index (7 days) by itself, as MongoDB's TTL
# monitor would within a minute; the counts below use a shorter TTL so that the command
# is what deletes them.
def test_cleanup_meetings_deletes_meetings_idle_past_the_ttl(meetings, settings):
    settings.MEETING_TTL_SECONDS = 24 * 3600

    output = run("cleanup_meetings")

    assert codes() == {"idle-13-hours", "fresh"}
    assert "Deleted 1 meeting(s) idle for more than 1 day" in output


def test_cleanup_meetings_dry_run_deletes_nothing(meetings, settings):
    settings.MEETING_TTL_SECONDS = 24 * 3600

    output = run("cleanup_meetings", "--dry-run")

    assert codes() == {"idle-2-days", "idle-13-hours", "fresh"}
    assert "would delete 1 meeting(s)" in output


@pytest.mark.parametrize(
    "older_than, left",
    [
        ("12h", {"fresh"}),
        ("1d", {"idle-13-hours", "fresh"}),
        ("30m", {"fresh"}),
        ("3m", set()),
        ("50400s", {"idle-13-hours", "fresh"}),  # 14 hours, in seconds
    ],
)
def test_cleanup_meetings_older_than(meetings, older_than, left):
    run("cleanup_meetings", "--older-than", older_than)

    assert codes() == left


@pytest.mark.parametrize("older_than", ["0", "7x", "-1d", "d", "1.5h", "7", "3600", "999999999999d"])
def test_cleanup_meetings_refuses_a_bad_duration(meetings, older_than):
    with pytest.raises(CommandError):
        call_command("cleanup_meetings", "--older-than", older_than)

    assert len(codes()) == 3


def test_cleanup_tokens_drops_expired_sessions_and_keeps_live_ones():
    user = User(name="Alice", username="alice", password=hash_password("wonderland")).save()
    live, expired = issue_token(user), issue_token(user)
    User.objects(username="alice", tokens__digest=token_digest(expired)).update_one(
        set__tokens__S__expiresAt=utcnow() - timedelta(seconds=1)
    )
    User.objects.insert(User(name="Bob", username="bob", password="x"))

    output = run("cleanup_tokens")

    assert [session.digest for session in User.objects.get(username="alice").tokens] == [token_digest(live)]
    assert user_for_token(live) is not None
    assert "Removed expired sessions from 1 user(s)." in output


def test_cleanup_tokens_removes_clear_text_tokens_left_by_node():
    User._get_collection().insert_one(
        {"name": "Old", "username": "old", "password": "$2b$10$x", "token": "c" * 40, "__v": 0}
    )

    output = run("cleanup_tokens")

    assert "token" not in User._get_collection().find_one({"username": "old"})
    assert "Removed clear-text legacy tokens from 1 user(s)." in output


def test_the_commands_run_from_the_command_line():
    """As cron runs them: a process of its own (here on its own in-memory database)."""
    env = {**os.environ, "MONGODB_DB_NAME": TEST_DB_NAME, "NODE_ENV": "development"}
    for command in (["cleanup_meetings", "--dry-run", "--older-than", "7d"], ["cleanup_tokens"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert "user(s)" in result.stdout or "would delete 0 meeting(s)" in result.stdout


def test_dedupe_meetings_keeps_the_most_recent_of_each_code_and_restores_the_unique_index():
    collection = Meeting._get_collection()
    collection.drop_indexes()  # as a database written by the Node backend
    now = utcnow()
    collection.insert_many(
        [
            {"meetingCode": "dup-code", "hostUsername": "old", "lastActive": now - timedelta(days=2), "date": now},
            {"meetingCode": "dup-code", "hostUsername": "new", "lastActive": now, "date": now},
            {"meetingCode": "solo-code", "hostUsername": "solo", "lastActive": now, "date": now},
        ]
    )
    assert "would delete 1 duplicate" in run("dedupe_meetings", "--dry-run")
    assert Meeting.objects.count() == 3
    assert "Deleted 1 duplicate" in run("dedupe_meetings")
    assert sorted(m.hostUsername for m in Meeting.objects) == ["new", "solo"]
    with pytest.raises(NotUniqueError):
        Meeting(meetingCode="dup-code", hostUsername="again").save(force_insert=True)


def test_start_up_survives_duplicate_codes_and_says_what_to_run(caplog):
    from animomeet import mongo

    collection = Meeting._get_collection()
    collection.drop_indexes()
    collection.insert_many([{"meetingCode": "twice", "lastActive": utcnow()} for _ in range(2)])
    mongo.ensure_indexes(Meeting)  # does not raise
    assert "dedupe_meetings" in caplog.text
    collection.delete_many({})
    mongo.ensure_indexes(Meeting)
