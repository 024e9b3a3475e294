"""Who may upload or remove a record's attachment: the record's own permission rules.

An upload to a record that exists needs ``write`` on it; one that creates the record
needs ``record:create`` on its collection (or what grants it), exactly as a PUT. Removing
the attachment of a missing record needs to read the collection, so that such a caller
learns it is missing (404) rather than being refused.
"""

from __future__ import annotations

from kinto_clone.context import RouteContext


class AttachmentContext(RouteContext):
    """The route context of ``.../records/{id}/attachment`` (route name ``record:...``,
    so that it loads the record's chain like the record's own URL)."""

    def permits(self, permission: str) -> bool:
        self.load()
        principals: set[str] = self.request.principals
        if self.current is not None:
            return self._granted("write", principals, self.uris)
        if self.request.method == "POST":
            return self._may_create(principals)
        return self._parent_readable(principals)
