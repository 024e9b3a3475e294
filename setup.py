import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
# The version lives in kinto_clone/version.py only; read, not imported (the package's
# dependencies are not installed yet when setup.py runs).
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (HERE / "kinto_clone" / "version.py").read_text()).group(1)

setup(
    name="kinto_clone",
    version=VERSION,
    description="A fast, durable server of the Kinto HTTP API (v1)",
    # The repository's migrations/ ships inside the package as kinto_clone/migrations, so
    # that an installed server finds it (kinto_clone/migration.py looks there first).
    packages=[*find_packages(include=["kinto_clone", "kinto_clone.*"]),
              "kinto_clone.migrations", "kinto_clone.migrations.versions"],
    package_dir={"kinto_clone.migrations": "migrations"},
    package_data={"kinto_clone.migrations": ["script.py.mako"]},
    python_requires=">=3.11",
    install_requires=[
        "pyramid>=2.0,<3",
        "cornice>=6,<7",
        "colander>=2,<3",
        "SQLAlchemy>=2.0,<2.2",
        "psycopg2-binary>=2.9",
        "waitress>=3",
        "orjson>=3.9",
        "jsonschema>=4.18",
        "jsonpatch>=1.33",
        "alembic>=1.12",
        "PasteDeploy>=3",
        "plaster_pastedeploy",
        "bcrypt>=4",
        "prometheus-client>=0.20",
    ],
    extras_require={
        "test": ["pytest>=8", "WebTest>=3", "kinto-http>=11,<12", "requests", "ruff",
                 "pytest-xdist", "openapi-spec-validator>=0.7", "hypothesis>=6",
                 "schemathesis>=4,<5", "mypy>=1.10", "pytest-cov>=5", "kinto-wizard>=6,<7"],
    },
    entry_points={
        "paste.app_factory": ["main = kinto_clone:main"],
        "console_scripts": ["kinto-clone = kinto_clone.__main__:main"],
    },
)
