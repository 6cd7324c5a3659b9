"""``toolkeeper secrets``: make keys, encrypt values, rotate stored secrets."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from toolkeeper._errors import SecretKeyMissingError
from toolkeeper._secrets import KEY_ENV, KEY_FILE_ENV, Keyring, generate_key, write_key_file
from toolkeeper.cli._context import CliState
from toolkeeper.cli._output import console

__all__ = ["app"]

app = typer.Typer(help="Make keys, encrypt secrets and rotate them.", no_args_is_help=True)


def _keyring() -> Keyring:
    keyring = Keyring.from_environment()
    if keyring is None:
        raise SecretKeyMissingError(
            f"no secret key: set {KEY_ENV} or {KEY_FILE_ENV} (make one with "
            "`toolkeeper secrets keygen`)"
        )
    return keyring


@app.command("keygen")
def keygen(
    file: Path | None = typer.Option(
        None, "--file", help="Write the key to this file (mode 0600) instead of printing it."
    ),
) -> None:
    """Make a new encryption key; print it as the last line, or write it to a file."""
    key = generate_key()
    if file is not None:
        write_key_file(file, key)
        console.print(f"wrote a new key to {file} (mode 0600); use it with {KEY_FILE_ENV}={file}")
        return
    console.print(f"# a new key: set {KEY_ENV} to it (to rotate, put it first: NEW,OLD)")
    console.out(key, highlight=False)


@app.command("encrypt")
def encrypt(
    value: str = typer.Argument(..., help="The secret, or - to read it from standard input."),
) -> None:
    """Encrypt a secret into an enc: value for the configuration file."""
    plaintext = sys.stdin.read().rstrip("\r\n") if value == "-" else value
    console.out(_keyring().encrypt(plaintext), highlight=False)


@app.command("rotate")
def rotate(ctx: typer.Context) -> None:
    """Re-encrypt every secret stored in the store under the first key of TOOLKEEPER_SECRET_KEY."""
    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    ctx.call_on_close(state.close)
    keyring = _keyring()
    configuration = state.configuration()
    changed = configuration.rotate_secrets(keyring)
    # Deferred: the alerts' runtime loads the store (SQLAlchemy); only this command needs it.
    from toolkeeper.alerts.runtime import rotate_alert_secrets

    alerting = rotate_alert_secrets(configuration.store, keyring)
    console.print(
        f"re-encrypted the secrets of {changed} stored version"
        f"{'s' if changed != 1 else ''} under the first key"
        + (f", and the notifier URLs of {alerting} alerting version"
           f"{'s' if alerting != 1 else ''}" if alerting else "")
    )  # fmt: skip
