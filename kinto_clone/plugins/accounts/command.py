"""``kinto-clone create-user --ini FILE [-u USER] [-p PASSWORD]`` (§7.3, §11.4).

Creates the account, or replaces it with just this password (how the first administrator
gets in: ``account_write_principals = account:admin`` and ``create-user -u admin``). Asks
for what is not given on the command line: the user name until it is a valid id, the
password twice until both match.

Exit codes, as Kinto's: 0 done, 51 the server is readonly, 52 the accounts plugin is not
included, 53 aborted (end of input or Ctrl-C at a prompt). A server running on the same
database keeps accepting a replaced password for at most ``account_cache_ttl_seconds``.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import Any

from kinto_clone import backends, db
from kinto_clone.plugins.accounts.authentication import hash_password
from kinto_clone.plugins.accounts.options import PLUGIN, bcrypt_rounds
from kinto_clone.plugins.accounts.resource import ACCOUNT_ID, store_account

EXIT_READONLY = 51
EXIT_NOT_INCLUDED = 52
EXIT_ABORTED = 53

Prompt = Callable[[str], str]


def ask_username(username: str | None, prompt: Prompt) -> str:
    while username is None or not ACCOUNT_ID.match(username):
        if username is not None:
            print(
                f"{username!r} is not a valid user name: it must match {ACCOUNT_ID.pattern}",
                file=sys.stderr,
            )
        username = prompt("Username: ")
    return username


def ask_password(username: str, password: str | None, secret_prompt: Prompt) -> str:
    while not password:  # None (not given) or empty: accounts need a password
        first = secret_prompt(f"Password for {username}: ")
        if first and secret_prompt("Confirm the password: ") == first:
            password = first
        else:
            print("The passwords are empty or do not match; again.", file=sys.stderr)
    return password


def create_user(
    settings: dict[str, Any],
    username: str | None,
    password: str | None,
    prompt: Prompt = input,
    secret_prompt: Prompt = getpass.getpass,
) -> int:
    """Store the account; return the process exit code."""
    if settings["readonly"]:
        print("Cannot create users: the server is readonly.", file=sys.stderr)
        return EXIT_READONLY
    if PLUGIN not in settings["includes"]:
        print(f"Cannot create users: {PLUGIN} is not in kinto.includes.", file=sys.stderr)
        return EXIT_NOT_INCLUDED
    rounds = bcrypt_rounds(settings)
    try:
        username = ask_username(username, prompt)
        password = ask_password(username, password, secret_prompt)
    except (EOFError, KeyboardInterrupt):
        print("\nUser creation aborted.", file=sys.stderr)
        return EXIT_ABORTED
    loaded = backends.load(settings)
    try:
        with db.transaction():
            store_account(loaded, username, hash_password(password, rounds))
    finally:
        loaded.close()
    print(f"Account {username!r} stored; log in as account:{username}.")
    return 0
