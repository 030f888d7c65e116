"""A meeting deleted anywhere ends its live call: from the admin and from a management
command, run in a process that serves no call (here, the test's own), through Redis."""

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command

from animomeet.clock import utcnow
from meetings.documents import Meeting
from tests.rest_helpers import post_action
from tests.meeting_helpers import join

pytestmark = [pytest.mark.redis, pytest.mark.django_db, pytest.mark.usefixtures("rest_settings")]


@pytest.fixture
def call_in_progress(cluster, nc, settings):
    """Two people in a call served by a daphne process on Redis; this process shares its
    Redis namespace and holds the meeting document."""
    [server] = cluster(1)
    settings.REDIS_URL = server.env["REDIS_URL"]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "signaling.engine.broker.redis_pools.WaitingRedisChannelLayer",
            "CONFIG": {"hosts": [server.env["REDIS_URL"]], "prefix": server.env["CHANNEL_LAYER_PREFIX"]},
        }
    }
    code = f"end-{uuid.uuid4().hex[:8]}"
    meeting = Meeting(meetingCode=code, hostUsername="alice", lastActive=utcnow() - timedelta(hours=1)).save()
    a, b = (nc.connect(n, server.url, transports=["websocket"]) for n in "ab")
    join(a, code, "ann", "Ann")
    join(b, code, "bob", "Bob")
    # Joining refreshed lastActive where the server shares this database (a run over the
    # wire): the meeting is made idle again for the clean-up command.
    Meeting.objects(id=meeting.id).update(set__lastActive=utcnow() - timedelta(hours=1))
    return meeting, (a, b)


def assert_call_ended(people):
    for person in people:
        assert person.wait_event("meeting-ended", timeout=5) == [{"by": None}]
        person.wait_disconnect()


def test_the_admin_ending_a_meeting_ends_its_call(call_in_progress, staff):
    meeting, people = call_in_progress
    post_action(staff, "/admin/meetings/", "end", [str(meeting.pk)])
    assert Meeting.objects.count() == 0
    assert_call_ended(people)


def test_the_clean_up_command_ends_the_calls_of_the_meetings_it_deletes(call_in_progress):
    meeting, people = call_in_progress
    call_command("cleanup_meetings", "--older-than", "30m")
    assert Meeting.objects.count() == 0
    assert_call_ended(people)
