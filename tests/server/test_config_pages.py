"""The configuration page over plain HTTP: errors by field, preview, save, conflicts, rollback."""

from __future__ import annotations

import re

from tests.server.conftest import LiveServer, version_of
from tests.server.test_pages import edit_form, page_csrf, signed_in
from toolkeeper.server import Role


def test_an_invalid_value_is_shown_beside_its_field_and_nothing_is_saved(
    sqlite_server: LiveServer,
) -> None:
    """Two bad values: each error sits by its field, the typed text is kept, the version stays."""
    admin = sqlite_server.client(Role.ADMIN)
    before = version_of(admin, "local")
    with signed_in(sqlite_server, Role.ADMIN) as client:
        form = edit_form(client.get("/config?tool=local").text)
        form.update(timeout_seconds="-5", max_retry_attempts="lots")
        response = client.post("/config/local/preview", data=form)
    assert response.status_code == 422
    page = response.text
    assert 'data-error-for="timeout_seconds"' in page
    assert 'data-error-for="max_retry_attempts"' in page
    assert re.search(r'name="max_retry_attempts" type="number".*?value="lots"', page, re.S)
    assert "Nothing was saved" in page
    assert version_of(admin, "local") == before


def test_a_change_goes_through_preview_save_history_and_rollback(sqlite_server: LiveServer) -> None:
    """Preview, save with a reason, history, any two versions compared, rollback once confirmed."""
    admin = sqlite_server.client(Role.ADMIN)
    before = version_of(admin, "local")
    with signed_in(sqlite_server, Role.ADMIN) as client:
        form = edit_form(client.get("/config?tool=local").text)
        form["max_retry_attempts"] = "5"
        preview = client.post("/config/local/preview", data=form)
        assert preview.status_code == 200, preview.text
        assert 'data-diff-field="max_retry_attempts"' in preview.text
        assert version_of(admin, "local") == before
        sealed = re.search(r'name="change" value="([^"]+)"', preview.text).group(1)  # type: ignore[union-attr]
        csrf = page_csrf(preview.text)
        unexplained = client.post(
            "/config/local/save", data={"csrf_token": csrf, "change": sealed, "reason": " "}
        )
        assert unexplained.status_code == 422
        assert version_of(admin, "local") == before
        saved = client.post(
            "/config/local/save",
            data={"csrf_token": csrf, "change": sealed, "reason": "more patience"},
        )
        assert saved.status_code == 303
        assert f"saved={before + 1}" in saved.headers["location"]
        page = client.get(saved.headers["location"]).text
        assert f"is now at version {before + 1}" in page
        assert re.search(r'data-testid="actor">admin-test<', page)
        assert re.search(r'data-testid="reason">more patience<', page)
        replayed = client.post(
            "/config/local/save", data={"csrf_token": csrf, "change": sealed, "reason": "again"}
        )
        assert replayed.status_code == 409
        asked = {"csrf_token": csrf, "version": str(before + 1), "to_version": str(before),
                 "reason": "undo"}  # fmt: skip
        confirm = client.post("/config/local/rollback", data=asked)
        assert confirm.status_code == 200  # asks first, showing what would change
        assert 'name="confirm" value="yes"' in confirm.text
        assert 'data-diff-field="max_retry_attempts"' in confirm.text
        assert version_of(admin, "local") == before + 1
        compared = client.get(f"/config/local/diff?from={before}&to={before + 1}")
        assert compared.status_code == 200
        assert 'data-diff-field="max_retry_attempts"' in compared.text
        rolled = client.post("/config/local/rollback", data={**asked, "confirm": "yes"})
        assert rolled.status_code == 303
    assert version_of(admin, "local") == before + 2
    history = admin.get("/api/v1/config/local/history").json()["versions"]
    assert history[-1]["actor"] == "admin-test"
    assert history[-1]["source"] == "ui"
    assert history[-1]["reason"] == "undo"


def test_a_stale_form_is_refused_with_a_conflict(sqlite_server: LiveServer) -> None:
    """A form rendered from an older version saves nothing and says what happened."""
    admin = sqlite_server.client(Role.ADMIN)
    with signed_in(sqlite_server, Role.ADMIN) as client:
        form = edit_form(client.get("/config?tool=local").text)
        version = version_of(admin, "local")
        changed = admin.patch(
            "/api/v1/config/local",
            content=b'{"pool_max_connections": 40}',
            headers={"Content-Type": "application/merge-patch+json", "If-Match": f'"{version}"',
                     "X-Change-Reason": "meanwhile"},
        )  # fmt: skip
        assert changed.status_code == 200
        form["max_retry_attempts"] = "7"
        response = client.post("/config/local/preview", data=form)
    assert response.status_code == 409
    assert f"based on version {version}; it is now version {version + 1}" in response.text
    assert version_of(admin, "local") == version + 1


def test_forms_need_the_csrf_token_and_a_genuine_preview(sqlite_server: LiveServer) -> None:
    """A post without the session's token is refused; a forged sealed change saves nothing."""
    admin = sqlite_server.client(Role.ADMIN)
    before = version_of(admin, "local")
    with signed_in(sqlite_server, Role.ADMIN) as client:
        form = edit_form(client.get("/config?tool=local").text)
        form.update(csrf_token="guess", max_retry_attempts="6")
        refused = client.post("/config/local/preview", data=form)
        csrf = page_csrf(client.get("/").text)
        forged = client.post(
            "/config/local/save", data={"csrf_token": csrf, "change": "gAAAAAforged", "reason": "x"}
        )
    assert refused.status_code == 403
    assert forged.status_code == 400
    assert "nothing was saved" in forged.text
    assert version_of(admin, "local") == before


def test_the_environment_is_chosen_in_the_url(sqlite_server: LiveServer) -> None:
    """``?env=production`` shows that environment's values and sources; an unknown one is a 404."""
    with signed_in(sqlite_server, Role.ADMIN) as client:
        production = client.get("/config?env=production&tool=openai")
        unknown = client.get("/config?env=nowhere")
    assert production.status_code == 200
    assert '<option value="production" selected>' in production.text
    assert re.search(r'name="timeout_seconds" type="number".*?value="10.0"', production.text, re.S)
    assert "[environments.production.tools.openai]" in production.text
    assert unknown.status_code == 404


def test_error_kinds_are_edited_as_comma_separated_entries(sqlite_server: LiveServer) -> None:
    """failure_on typed as "401, 5xx" previews as a change; a bad entry is shown by its field."""
    with signed_in(sqlite_server, Role.ADMIN) as client:
        form = edit_form(client.get("/config?tool=local").text)
        form["failure_on"] = "401, 5xx"
        preview = client.post("/config/local/preview", data=form)
        assert preview.status_code == 200, preview.text
        assert 'data-diff-field="failure_on"' in preview.text
        form["failure_on"] = "401, not a name!"
        refused = client.post("/config/local/preview", data=form)
    assert refused.status_code == 422
    assert 'data-error-for="failure_on"' in refused.text
