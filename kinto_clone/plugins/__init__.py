"""Optional features, each enabled by ``kinto.includes`` and set up by its ``includeme``.

Plugins build on the views (``views/resources.register_resource``) and advertise
themselves with ``views/root.add_capability``; nothing outside this folder imports it back,
except ``main()`` that includes them.
"""
