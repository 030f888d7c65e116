"""Django's admin, extended to MongoEngine documents (which have no ORM models).

`DocumentAdmin` is a small ModelAdmin-like class: a searchable, filterable, paginated
list with actions on the selected rows, and a detail page, with actions of its own. `site` is the admin
site that serves them next to Django's own models and lists them on its index. Staff
login and Django's CSRF token protect every page (AdminSite.admin_view); failed staff
logins are limited as the API's are (`ratelimit.LoginThrottle`).
"""

import re
from datetime import datetime, timezone
from functools import wraps
from typing import Callable, NamedTuple

from bson import ObjectId
from bson.errors import InvalidId
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.contrib.auth.models import User as StaffUser
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from animomeet.http import client_address, too_many_requests
from animomeet.ratelimit import LoginThrottle, Refused


def format_moment(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class Column(NamedTuple):
    label: str
    value: Callable  # document -> what the cell shows


class Action(NamedTuple):
    name: str
    label: str
    run: Callable  # (list of ObjectIds) -> message for the staff member


class DetailAction(NamedTuple):
    name: str
    run: Callable  # (document, the POST data) -> (succeeded, message for the staff member)


class _CountedQuerySet:
    """What Paginator needs from a MongoEngine queryset: a server-side count and slices
    (Paginator would otherwise load every document to count them)."""

    def __init__(self, queryset):
        self.queryset = queryset

    def count(self) -> int:
        return self.queryset.count()

    def __getitem__(self, window: slice) -> list:
        return list(self.queryset[window])


class DocumentAdmin:
    document = None  # the MongoEngine Document class
    slug = ""  # URL segment and URL-name part
    verbose_name_plural = ""
    columns: tuple[Column, ...] = ()
    search_field = ""  # `?q=` matches it case-insensitively anywhere
    filter_field = ""  # `?<filter_field>=` matches it exactly
    ordering = ()
    per_page = 50

    def __init__(self, admin_site):
        self.admin_site = admin_site

    detail_template = "mongo_admin/detail.html"

    def actions(self) -> tuple[Action, ...]:
        return ()

    def columns_for(self, documents: list) -> tuple[Column, ...]:
        """The list's columns for one page of documents (a subclass may add some that
        it looks up once for the whole page)."""
        return self.columns

    def detail_rows(self, document) -> list[tuple[str, object]]:
        return [(column.label, column.value(document)) for column in self.columns]

    def detail_context(self, document) -> dict:
        """What a subclass's detail template shows beside the rows."""
        return {}

    def detail_actions(self) -> tuple[DetailAction, ...]:
        return ()

    @property
    def list_url_name(self) -> str:
        return f"mongo_{self.slug}_list"

    @property
    def detail_url_name(self) -> str:
        return f"mongo_{self.slug}_detail"

    def get_urls(self):
        def view(handler):
            return self.admin_site.admin_view(_superusers_only(handler))

        return [
            path(f"{self.slug}/", view(self.list_view), name=self.list_url_name),
            path(f"{self.slug}/<str:object_id>/", view(self.detail_view), name=self.detail_url_name),
        ]

    def index_entry(self) -> dict:
        """This document as a model of the index page and the navigation sidebar."""
        url = reverse(f"{self.admin_site.name}:{self.list_url_name}")
        return {
            "name": self.verbose_name_plural,
            "app_label": self.slug,
            "app_url": url,
            "has_module_perms": True,
            "models": [
                {
                    "name": self.verbose_name_plural,
                    "object_name": self.document.__name__,
                    "admin_url": url,
                    "add_url": None,
                    "view_only": True,
                    "perms": {"view": True, "change": False, "add": False, "delete": False},
                }
            ],
        }

    def filtered(self, request):
        queryset = self.document.objects
        query = request.GET.get("q", "").strip()
        if query:
            # `$regex` rather than MongoEngine's `__icontains`, which sends a BSON regex
            # literal: the same match on MongoDB, but SecantusDB (the tests' wire server)
            # compares a literal by equality when the field is indexed, and finds nothing.
            pattern = {"$regex": re.escape(query), "$options": "i"}
            queryset = queryset.filter(__raw__={self.search_field: pattern})
        chosen = request.GET.get(self.filter_field, "").strip() if self.filter_field else ""
        if chosen:
            queryset = queryset.filter(**{self.filter_field: chosen})
        return queryset.order_by(*self.ordering)

    def list_view(self, request):
        actions = {action.name: action for action in self.actions()}
        if request.method == "POST":
            return self._run_action(request, actions)
        page = Paginator(_CountedQuerySet(self.filtered(request)), self.per_page).get_page(request.GET.get("page"))
        columns = self.columns_for(list(page))
        rows = [
            {
                "id": str(document.pk),
                "url": reverse(f"{self.admin_site.name}:{self.detail_url_name}", args=[document.pk]),
                "cells": [column.value(document) for column in columns],
            }
            for document in page
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": self.verbose_name_plural,
            "document_admin": self,
            "headers": [column.label for column in columns],
            "rows": rows,
            "page": page,
            "actions": [(action.name, action.label) for action in actions.values()],
            "query": request.GET.get("q", ""),
            "filter_value": request.GET.get(self.filter_field, "") if self.filter_field else "",
        }
        return TemplateResponse(request, "mongo_admin/change_list.html", context)

    def _run_action(self, request, actions: dict):
        action = actions.get(request.POST.get("action", ""))
        ids = []
        for raw in request.POST.getlist("selected"):
            try:
                ids.append(ObjectId(raw))
            except InvalidId:
                pass
        if action is None:
            messages.error(request, "Choose an action.")
        elif not ids:
            messages.warning(request, "Select some rows first; nothing was changed.")
        else:
            messages.success(request, action.run(ids))
        return HttpResponseRedirect(request.get_full_path())

    def detail_view(self, request, object_id: str):
        try:
            document = self.document.objects(pk=ObjectId(object_id)).first()
        except InvalidId:
            document = None
        if document is None:
            raise Http404(f"No such {self.document.__name__.lower()}")
        if request.method == "POST":
            return self._run_detail_action(request, document)
        context = {
            **self.admin_site.each_context(request),
            "title": str(document),
            "document_admin": self,
            "list_url": reverse(f"{self.admin_site.name}:{self.list_url_name}"),
            "rows": self.detail_rows(document),
            **self.detail_context(document),
        }
        return TemplateResponse(request, self.detail_template, context)

    def _run_detail_action(self, request, document):
        action = next((action for action in self.detail_actions() if action.name == request.POST.get("action")), None)
        if action is None:
            messages.error(request, "Choose an action.")
        else:
            succeeded, message = action.run(document, request.POST)
            (messages.success if succeeded else messages.warning)(request, message)
        return HttpResponseRedirect(request.get_full_path())


def _superusers_only(handler):
    """The documents have no Django permissions to grant, and these pages show every
    user and can end meetings and sessions: superusers only."""

    @wraps(handler)
    def guarded(request, *args, **kwargs):
        if not request.user.is_superuser:
            raise PermissionDenied
        return handler(request, *args, **kwargs)

    return guarded


# Staff logins fail and lock by the same rules as the API's, with counters of their own.
ADMIN_LOGIN_THROTTLE = LoginThrottle("admin-login")


class AnimoAdminSite(admin.AdminSite):
    site_header = "Animo Meet administration"
    site_title = "Animo Meet admin"

    def __init__(self, name="admin"):
        super().__init__(name)
        self.document_admins: list[DocumentAdmin] = []

    def login(self, request, extra_context=None):
        if request.method != "POST":
            return super().login(request, extra_context)
        address, username = client_address(request), request.POST.get("username", "")
        try:
            ADMIN_LOGIN_THROTTLE.check(address, username)
        except Refused as refusal:
            return too_many_requests(refusal)
        response = super().login(request, extra_context)
        if response.status_code == 302:  # Django's LoginView redirects once logged in
            ADMIN_LOGIN_THROTTLE.record_success(address, username)
        else:
            known = StaffUser.objects.filter(username=username).exists()
            ADMIN_LOGIN_THROTTLE.record_failure(address, username if known else None)
        return response

    def register_document(self, admin_class: type[DocumentAdmin]) -> None:
        self.document_admins.append(admin_class(self))

    def get_urls(self):
        # Before Django's own: its final catch-all would answer these paths first.
        document_urls = [url for document_admin in self.document_admins for url in document_admin.get_urls()]
        return document_urls + super().get_urls()

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        if app_label is None and request.user.is_superuser:
            app_list += [document_admin.index_entry() for document_admin in self.document_admins]
            app_list.sort(key=lambda app: app["name"].lower())
        return app_list


site = AnimoAdminSite()
site.register(StaffUser, UserAdmin)
site.register(Group, GroupAdmin)
