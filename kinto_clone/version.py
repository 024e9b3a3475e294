"""The version of kinto_clone, in one place: ``setup.py`` reads it from this file, and the
modules that report it (settings, the ``version`` command) import it from here."""

__version__ = "0.1.0"
