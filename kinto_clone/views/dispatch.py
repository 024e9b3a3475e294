"""The view of a request chosen by asking each view's predicates, not by exceptions.

Pyramid keeps the views of one route (cornice registers one per method) in a
``MultiView``, which calls them in turn until one does not raise ``PredicateMismatch``.
That exception is an HTTP exception, built as a whole response (~17 us): a PATCH went
through three of them (its route's GET, HEAD and PUT views come first), a DELETE through
four, 5% of a PATCH's CPU. ``install`` makes those MultiViews ask each view whether its
predicates accept the request (Pyramid's own ``MultiView.match`` does the same) and call
the first that does; the answers are the same, ``tests/functional/test_dispatch.py``
checks it.
"""

from __future__ import annotations

from typing import Any

from pyramid.config.views import MultiView
from pyramid.exceptions import PredicateMismatch
from pyramid.registry import Registry


class _AskFirst(MultiView):
    def __call__(self, context: Any, request: Any) -> Any:
        for _order, view, _phash in self.get_views(request):
            accepts = getattr(view, "__predicated__", None)
            if accepts is None or accepts(context, request):
                try:
                    return view(context, request)
                except PredicateMismatch:  # pragma: no cover - its predicates said yes
                    continue
        raise PredicateMismatch(self.name)


def install(registry: Registry) -> None:
    """After the last commit of the configuration: every MultiView asks first."""
    for registration in registry.registeredAdapters():
        if type(registration.factory) is MultiView:
            registration.factory.__class__ = _AskFirst
