"""The one MongoEngine connection of a process, opened at start-up."""

import logging

import mongoengine
import pymongo
from pymongo import uri_parser
from pymongo.errors import ConnectionFailure, OperationFailure

log = logging.getLogger("animomeet.mongo")


DEFAULT_DB_NAME = "animo-meet"
# How long a query waits for a reachable server, unless the setting
# (MONGODB_SERVER_SELECTION_TIMEOUT_MS) or the URL (`?serverSelectionTimeoutMS=`) says otherwise.
DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 5000

# Documents whose indexes could not be created at start-up because MongoDB did not answer.
_pending_indexes: list = []


def connect(url: str, db_name: str = "", server_selection_timeout_ms: int = DEFAULT_SERVER_SELECTION_TIMEOUT_MS) -> None:
    """Connect the default MongoEngine alias; with no URL, to an in-memory mongomock.

    An explicit `db_name` (MONGODB_DB_NAME) wins over the database named in the URL, so
    that a test run can use a database of its own on a shared server. While no server
    is reachable, an operation fails after `server_selection_timeout_ms` with a
    pymongo ConnectionFailure (a 503, see JsonErrorMiddleware); the driver reconnects
    by itself when the server returns.
    """
    mongoengine.disconnect()
    if url:
        parsed = uri_parser.parse_uri(url)
        name = db_name or parsed.get("database") or DEFAULT_DB_NAME
        options = {} if "serverSelectionTimeoutMS" in parsed["options"] else {
            "serverSelectionTimeoutMS": server_selection_timeout_ms
        }
        # tz_aware: datetimes come back in UTC, as they were written.
        mongoengine.connect(db=name, host=url, tz_aware=True, uuidRepresentation="standard", **options)
        log.info("MongoDB: database %r", name)
    else:
        import mongomock

        mongoengine.connect(db=db_name or DEFAULT_DB_NAME, mongo_client_class=mongomock.MongoClient, tz_aware=True, uuidRepresentation="standard")
        log.warning(
            "No MONGODB_URL / DEVELOPMENT_DB_URL set: using an in-memory database; "
            "all users and meetings are lost when this process stops"
        )


def ensure_indexes(*documents) -> None:
    """Create the documents' indexes (unique keys, TTL) now rather than on first use.

    Data written by the Node backend may break a unique index (it had none on meeting
    codes): the process still starts, so that `manage.py dedupe_meetings` can run, and
    says so loudly. A MongoDB that does not answer does not stop the start either: the
    process serves /healthz, /readyz says what is missing, and the indexes are created
    once MongoDB answers (by `ping`, or by MongoEngine on first use)."""
    _pending_indexes.clear()
    for position, document in enumerate(documents):
        try:
            _apply_ttl_changes(document)
            document.ensure_indexes()
        except OperationFailure as failure:
            log.error(
                "indexes of %s could not be created (%s); for duplicate meeting codes run "
                "`python manage.py dedupe_meetings`, then restart",
                document._get_collection_name(),
                failure,
            )
        except ConnectionFailure as failure:
            unreached = documents[position:]
            _pending_indexes.extend(unreached)
            for later in unreached:
                # MongoEngine keeps the collection it looked up; without it, the first
                # use looks it up again and creates the indexes.
                later._disconnect()
            log.error("MongoDB does not answer (%s); serving without it until it does", failure)
            return


def ping(timeout_s: float) -> None:
    """Raises a PyMongoError unless MongoDB answers a `ping` within `timeout_s`; once it
    does, creates the indexes that the start-up could not."""
    with pymongo.timeout(timeout_s):
        mongoengine.get_connection().admin.command("ping")
        if _pending_indexes:
            ensure_indexes(*list(_pending_indexes))


def _apply_ttl_changes(document) -> None:
    """A TTL index whose lifetime changed (MEETING_TTL_SECONDS) gets the new one in place:
    MongoDB refuses to create an index again with other options. (The plain collection:
    MongoEngine's `_get_collection()` would first try to create the indexes.)"""
    collection = document._get_db()[document._get_collection_name()]
    existing = collection.index_information()
    for spec in document._meta["index_specs"]:
        if "expireAfterSeconds" not in spec:
            continue
        for name, index in existing.items():
            if (
                "expireAfterSeconds" in index
                and list(index["key"]) == list(spec["fields"])
                and index["expireAfterSeconds"] != spec["expireAfterSeconds"]
            ):
                collection.database.command(
                    "collMod", collection.name, index={"name": name, "expireAfterSeconds": spec["expireAfterSeconds"]}
                )
                log.warning(
                    "TTL of index %s.%s changed from %s to %s seconds",
                    collection.name,
                    name,
                    index["expireAfterSeconds"],
                    spec["expireAfterSeconds"],
                )
