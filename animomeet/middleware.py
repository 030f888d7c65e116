"""Request logging with request ids, and JSON answers instead of unhandled exceptions."""

import logging
import re
import time
import uuid

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404
from django.utils.deprecation import MiddlewareMixin
from pymongo.errors import ConnectionFailure

from animomeet.http import bad_request, client_address, database_unavailable, server_error
from animomeet.logs import current_request_id, logged_path

log = logging.getLogger("animomeet.request")

# A request id from a proxy is echoed only when it cannot garble a log line.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Query parameters whose values never reach the log.
SECRET_PARAMETER = re.compile(r"token|pass|secret|auth|key|sid|code", re.IGNORECASE)


def request_id(request) -> str:
    return getattr(request, "request_id", "-")


def _redacted_query(request) -> str:
    try:
        query = request.GET
    except SuspiciousOperation:  # e.g. more fields than Django parses: refused elsewhere
        return "<not parsed>"
    return "&".join(
        f"{name}={'***' if SECRET_PARAMETER.search(name) else value}"
        for name, values in query.lists()
        for value in values
    )


class RequestLogMiddleware(MiddlewareMixin):
    """One line per request: method, path (never the query), status, duration, request
    id. In development a debug line adds the client, agent and a redacted query."""

    def process_request(self, request):
        supplied = request.headers.get("X-Request-ID", "")
        request.request_id = supplied if REQUEST_ID_PATTERN.fullmatch(supplied) else uuid.uuid4().hex
        current_request_id.set(request.request_id)
        request.started_at = time.monotonic()

    def process_response(self, request, response):
        response["X-Request-ID"] = request_id(request)
        started_at = getattr(request, "started_at", time.monotonic())
        duration_ms = (time.monotonic() - started_at) * 1000
        path = logged_path(request.path)
        log.info(
            "%s %s %s %.1fms id=%s",
            request.method,
            path,
            response.status_code,
            duration_ms,
            request_id(request),
            extra={
                "request_id": request_id(request),
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": round(duration_ms, 1),
            },
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "id=%s client=%s agent=%r query=%r",
                request_id(request),
                client_address(request),
                request.headers.get("User-Agent", ""),
                _redacted_query(request),
            )
        # Under ASGI each request has a context of its own; a WSGI server's thread (or
        # the test client) goes on to other work in this one.
        current_request_id.set(None)
        return response


class MalformedRequestMiddleware(MiddlewareMixin):
    """What Django refuses before any view (a Host that is not in ALLOWED_HOSTS, more
    query fields than DATA_UPLOAD_MAX_NUMBER_FIELDS) gets the JSON 400 here, in every
    mode: with DEBUG on, Django would answer it with its debug page, settings included,
    and for a long query that page itself fails into a 500."""

    def process_request(self, request):
        try:
            request.get_host()
            request.GET  # parsing the query is the check
        except SuspiciousOperation as refusal:
            log.warning("refused %s id=%s: %s", type(refusal).__name__, request_id(request), refusal)
            return bad_request(request)
        return None


class JsonErrorMiddleware(MiddlewareMixin):
    """A view's unexpected exception becomes a bare JSON 500; the traceback goes to the
    log under the request id. An unreachable database is a 503 and one log line: not a
    bug, and the driver reconnects by itself. Django's own HTTP exceptions keep their
    usual answers."""

    def process_exception(self, request, exception):
        if isinstance(exception, (Http404, PermissionDenied, SuspiciousOperation, BadRequest)):
            return None
        if isinstance(exception, ConnectionFailure):
            log.warning(
                "database unavailable (%s) in %s %s id=%s",
                type(exception).__name__,
                request.method,
                logged_path(request.path),
                request_id(request),
            )
            return database_unavailable()
        log.error(
            "unhandled %s in %s %s id=%s",
            type(exception).__name__,
            request.method,
            logged_path(request.path),
            request_id(request),
            exc_info=exception,
        )
        return server_error(request)
