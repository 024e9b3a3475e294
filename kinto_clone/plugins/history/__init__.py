"""History (§10.1): every change in a bucket, kept as an entry of that bucket.

- ``options.py``: the ``history.*`` settings, validated once at start-up.
- ``listener.py``: a change listener (``events.py``) that writes one entry per change of a
  bucket, group, collection or record, with its read ACL, and trims old entries.
- ``views.py``: ``GET/HEAD/DELETE /buckets/{bid}/history`` and the collection snapshot
  ``GET /buckets/{bid}/snapshot/collections/{cid}@{timestamp}``.
- ``snapshot.py``: the records of a collection as they were at a timestamp.
- ``restore.py`` plans a restore to a timestamp from the entries, ``apply.py`` performs
  it as ordinary writes, ``operations.py`` adds dry runs, If-Match and reverts,
  ``restore_views.py`` and ``command.py`` serve it over HTTP and on the command line.

Entries are objects of the resource ``history`` whose parent is the bucket
(``/buckets/b``): they live in the bucket's list, so deleting the bucket deletes them
with its other children (``Storage.delete_tree``), ACEs included.
"""

from __future__ import annotations

from pyramid.config import Configurator

from kinto_clone.plugins.history.listener import ENTRY, HistoryListener
from kinto_clone.plugins.history.options import HistoryOptions
from kinto_clone.views.resources import register_resource
from kinto_clone.views.root import add_capability


def includeme(config: Configurator) -> None:
    options = HistoryOptions.from_settings(config.registry.settings)
    config.registry.listeners.append(HistoryListener(options))
    config.registry.history_options = options
    register_resource(config, ENTRY)  # the resource type of entries (listener.py)
    config.include("kinto_clone.plugins.history.views")
    # POST {object}/restore, POST /buckets/{bid}/history/{id}/revert (restore_views.py).
    config.include("kinto_clone.plugins.history.restore_views")
    # 412s with the base version of If-Match and the fields changed since (merge412.py).
    config.include("kinto_clone.plugins.history.merge412")
    add_capability(
        config,
        "history",
        "Track changes on data.",
        "http://kinto.readthedocs.io/en/latest/api/1.x/history.html",
        **options.capability(),
    )
