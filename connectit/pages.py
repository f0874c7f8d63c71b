"""List pages: search and pagination shared by authorizations, definitions and runs."""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest

PAGE_SIZE = 25


def search(request: HttpRequest, queryset: QuerySet, fields: tuple[str, ...]) -> tuple[QuerySet, str]:
    """Filter by the ?q= text, case-insensitively, in any of ``fields``."""
    query = request.GET.get("q", "").strip()[:200]
    if query:
        queryset = queryset.filter(reduce(or_, (Q(**{f"{name}__icontains": query}) for name in fields)))
    return queryset, query


def paginate(request: HttpRequest, queryset: QuerySet, per_page: int = PAGE_SIZE) -> Page:
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))
