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


class CheapPage:
    """A page that never counts the table: it fetches one row more than it shows to know
    whether a next page exists. The runs list has 100,000s of rows; COUNT(*) on every view of
    it would cost more than the page itself."""

    def __init__(self, rows: list, number: int, per_page: int) -> None:
        self.number = number
        self.object_list = rows[:per_page]
        self._has_next = len(rows) > per_page

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    def has_next(self) -> bool:
        return self._has_next

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_next() or self.has_previous()

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


def paginate_without_count(request: HttpRequest, queryset: QuerySet, per_page: int = PAGE_SIZE) -> CheapPage:
    try:
        number = max(1, min(int(request.GET.get("page", 1)), 1_000_000))
    except ValueError:
        number = 1
    start = (number - 1) * per_page
    # Skip rows by primary key alone (an index walk), then load the page's rows and their joins:
    # with OFFSET on the full query the database would join every skipped row too.
    ids = list(queryset.values_list("pk", flat=True)[start : start + per_page + 1])
    rows = {row.pk: row for row in queryset.filter(pk__in=ids)}
    return CheapPage([rows[pk] for pk in ids if pk in rows], number, per_page)
