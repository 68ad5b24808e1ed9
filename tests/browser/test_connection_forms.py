"""The Add Connection form of a real Airflow UI, as a person sees it in Chromium, for our three types.

For each type the form must show our relabeled fields with their placeholders, none of the fields the
type does not use, and every extra with its label and description, secrets masked. A connection saved
through the form must be one the hook reads (extras under their plain names), and the UI's Test
button must run our hook's ``test_connection`` against the simulator: success for good credentials,
a message naming the API key for a wrong one.

Each run also refreshes the screenshots under ``docs/img/`` that the docs show.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from airflow_import_jobs.connections.types import CONNECTION_TYPES, ConnectionType
from airflow_import_jobs.testing import SimulatorServer

from .conftest import REPO, ApiServer

pytestmark = pytest.mark.browser

DOCS_IMG = REPO / "docs" / "img"
STANDARD = "Standard Fields"
EXTRAS = "Extra Fields"


@dataclass(frozen=True)
class Standard:
    """A standard field as a person sees it: the input under ``label``."""

    name: str
    label: str
    placeholder: str
    input_type: str = "text"


@dataclass(frozen=True)
class Form:
    """What a person must see in the Add Connection form for one connection type."""

    conn_type: str
    option: str
    shown: tuple[Standard, ...]
    hidden: tuple[str, ...]
    # Labels Airflow would show for a standard field we relabel or hide: they must not appear.
    absent_labels: tuple[str, ...]
    secret_extras: tuple[str, ...]
    prefilled: Mapping[str, str] = field(default_factory=dict)


FORMS = {
    "milvus": Form(
        conn_type="milvus",
        option="Milvus (import jobs)",
        shown=(
            Standard("host", "Host or URL", "milvus.example.com or https://milvus.example.com:19530"),
            Standard("login", "User", "root"),
            Standard("password", "Password", "password (leave empty when using a token)", "password"),
            Standard("port", "Port", "19530", "number"),
        ),
        hidden=("schema",),
        absent_labels=("Host", "Login", "Schema"),
        secret_extras=("token",),
        prefilled={"db_name": "default", "timeout": "30"},
    ),
    "zilliz_cloud": Form(
        conn_type="zilliz_cloud",
        option="Zilliz Cloud (import jobs)",
        shown=(
            Standard("host", "Control plane URL", "https://api.cloud.zilliz.com"),
            Standard("password", "API Key", "Zilliz Cloud API key", "password"),
        ),
        hidden=("schema", "login", "port"),
        absent_labels=("Host", "Login", "Password", "Port", "Schema"),
        secret_extras=("storage_access_key", "storage_secret_key", "storage_token"),
        prefilled={"timeout": "30", "max_requests_per_second": "20"},
    ),
    "egain": Form(
        conn_type="egain",
        option="eGain Knowledge (import jobs)",
        shown=(
            Standard("host", "API domain", "api.ai.egain.cloud"),
            Standard("login", "Client ID", "OAuth client ID"),
            Standard("password", "Client Secret", "OAuth client secret", "password"),
        ),
        hidden=("schema", "port"),
        absent_labels=("Host", "Login", "Password", "Port", "Schema"),
        secret_extras=("access_token", "storage_access_key", "storage_secret_key"),
        prefilled={"scope": "knowledge.contentmgr.manage", "timeout": "30"},
    ),
}


# -- driving the UI -------------------------------------------------------------------------------


def open_add_form(page: Page, option: str) -> Locator:
    """Admin > Connections > Add Connection, with ``option`` picked as the type; the dialog."""
    if not page.url.rstrip("/").endswith("/connections"):
        page.get_by_role("button", name="Admin", exact=True).click()
        page.get_by_role("menuitem", name="Connections").click()
        page.wait_for_url("**/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog").filter(has=page.get_by_role("heading", name="Add Connection"))
    dialog.get_by_role("combobox").click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(section_trigger(dialog, STANDARD)).to_be_visible()
    return dialog


def section_trigger(dialog: Locator, title: str) -> Locator:
    return dialog.get_by_role("button", name=title, exact=True)


def open_section(dialog: Locator, title: str) -> Locator:
    """Expand one accordion section of the form (the form shows one at a time); its region."""
    trigger = section_trigger(dialog, title)
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    expect(trigger).to_have_attribute("aria-expanded", "true")
    # Not get_by_role("region", name=title): the UI's Extra Fields section has an id with a space, so
    # its aria-labelledby names no element and the region gets no accessible name.
    region = dialog.locator(f'[id="{trigger.get_attribute("aria-controls")}"]')
    expect(region).to_be_visible()
    return region


def close_form(page: Page, dialog: Locator) -> None:
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


def extra_field(section: Locator, name: str) -> tuple[Locator, Locator]:
    """The form group of extra ``name`` and its input (the UI names extra inputs ``element_<name>``)."""
    selector = f'input[name="element_{name}"]'
    return section.get_by_role("group").filter(has=section.page.locator(selector)), section.locator(selector)


def toast(page: Page, title: str, text: str) -> Locator:
    """The visible toast titled ``title`` whose text contains ``text``."""
    found = page.get_by_role("status").filter(has_text=title).filter(has_text=text)
    expect(found).to_be_visible()
    return found


# -- screenshots ------------------------------------------------------------------------------------

MARGIN = 16  # px of the dimmed page kept around the dialog, so a shot reads as a dialog


def dialog_shot(page: Page, dialog: Locator, start: Locator | None = None) -> bytes:
    """The dialog as rendered (from ``start``'s top edge when given), with a margin of the page."""
    box = dialog.bounding_box()
    assert box is not None
    top = box["y"] - MARGIN
    if start is not None:
        start_box = start.bounding_box()
        assert start_box is not None
        top = start_box["y"]
    clip = {
        "x": box["x"] - MARGIN,
        "y": top,
        "width": box["width"] + 2 * MARGIN,
        "height": box["y"] + box["height"] + MARGIN - top,
    }
    return page.screenshot(clip=clip, full_page=True)  # type: ignore[arg-type]


def save_screenshot(page: Page, path: Path, shots: list[bytes]) -> None:
    """One image per type: the form with Standard Fields open, then its lower part with Extra Fields open.

    The form opens one section at a time, so the shots are stacked, with a gap, by the browser
    itself: no image library needed, and every pixel is what Chromium rendered.
    """
    images = "".join(f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">' for png in shots)
    html = (
        "<!doctype html><style>html,body{margin:0;background:#fff}"
        "body{display:inline-flex;flex-direction:column;gap:12px}img{display:block}</style>" + images
    )
    sheet = page.context.new_page()
    try:
        sheet.set_content(html)
        sheet.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        path.parent.mkdir(parents=True, exist_ok=True)
        sheet.locator("body").screenshot(path=str(path))
    finally:
        sheet.close()


# -- what a person sees -----------------------------------------------------------------------------


@pytest.mark.parametrize("conn_type", list(FORMS))
def test_add_connection_form_shows_our_fields(page: Page, conn_type: str) -> None:
    form = FORMS[conn_type]
    metadata: ConnectionType = CONNECTION_TYPES[conn_type]
    dialog = open_add_form(page, form.option)
    dialog.locator('input[name="connection_id"]').fill(metadata.default_conn_id)

    standard = open_section(dialog, STANDARD)
    for shown in form.shown:
        control = standard.get_by_label(shown.label, exact=True)
        expect(control).to_be_visible()
        expect(control).to_have_attribute("name", shown.name)
        expect(control).to_have_js_property("type", shown.input_type)
        expect(control).to_have_attribute("placeholder", shown.placeholder)
    for name in form.hidden:
        expect(dialog.locator(f'[name="{name}"]')).to_have_count(0)
    for label in form.absent_labels:
        expect(standard.get_by_text(label, exact=True)).to_have_count(0)
    form_png = dialog_shot(page, dialog)

    extras = open_section(dialog, EXTRAS)
    # Exactly our extras, each once: none missing, none from another type or provider.
    expect(extras.locator('input[name^="element_"]')).to_have_count(len(metadata.extras))
    for extra in metadata.extras:
        group, control = extra_field(extras, extra.name)
        expect(control).to_have_count(1)
        expect(group.locator("label").first).to_have_text(extra.label)
        expect(group).to_contain_text(extra.description)
        if extra.type == "boolean":
            expect(control).to_have_js_property("type", "checkbox")
        elif extra.secret:
            expect(control).to_have_js_property("type", "password")
        elif extra.type in ("number", "integer"):
            expect(control).to_have_attribute("role", "spinbutton")
        else:
            expect(control).to_have_js_property("type", "text")
    for name in form.secret_extras:  # named here too: a secret must never show in clear text
        expect(extras.locator(f'input[name="element_{name}"]')).to_have_js_property("type", "password")
    for name, value in form.prefilled.items():
        expect(extras.locator(f'input[name="element_{name}"]')).to_have_value(value)
    extras_png = dialog_shot(page, dialog, start=extras.locator("xpath=.."))  # from the section's title down

    save_screenshot(page, DOCS_IMG / f"connection-form-{conn_type}.png", [form_png, extras_png])
    close_form(page, dialog)


# -- saving and testing -----------------------------------------------------------------------------

GOOD = {"milvus": "milvus_ui", "zilliz_cloud": "zilliz_ui", "egain": "egain_ui"}
WRONG = "zilliz_ui_wrong_key"
WRONG_KEY = "not-the-api-key"
CONNECTED = {
    "milvus": "Connected to Milvus",
    "zilliz_cloud": "Connected to Zilliz Cloud: the API key is valid",
    "egain": "Connected to eGain: the token was accepted",
}


def add_connection(
    page: Page, conn_type: str, conn_id: str, fields: Mapping[str, str], extras: Mapping[str, str]
) -> None:
    """Fill the Add Connection form as a person would (fields by their visible label) and save it."""
    dialog = open_add_form(page, FORMS[conn_type].option)
    dialog.locator('input[name="connection_id"]').fill(conn_id)
    standard = open_section(dialog, STANDARD)
    for label, value in fields.items():
        standard.get_by_label(label, exact=True).fill(value)
    section = open_section(dialog, EXTRAS)
    for name, value in extras.items():
        extra_field(section, name)[1].fill(value)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(connection_row(page, conn_id)).to_be_visible()


def connection_row(page: Page, conn_id: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))


@pytest.fixture(scope="module")
def saved(page: Page, simulator: SimulatorServer) -> None:
    """One connection per type saved through the form, pointing at the simulator, and a Zilliz
    Cloud connection with a wrong API key."""
    sim = simulator.sim
    add_connection(
        page,
        "milvus",
        GOOD["milvus"],
        {"Host or URL": simulator.milvus_url, "User": sim.milvus_user, "Password": sim.milvus_password},
        {"timeout": "5"},
    )
    for conn_id, key in ((GOOD["zilliz_cloud"], sim.zilliz_api_key), (WRONG, WRONG_KEY)):
        add_connection(
            page,
            "zilliz_cloud",
            conn_id,
            {"Control plane URL": simulator.zilliz_url, "API Key": key},
            {"cluster_id": sim.zilliz_cluster_id, "timeout": "5"},
        )
    add_connection(
        page,
        "egain",
        GOOD["egain"],
        {"API domain": simulator.egain_url, "Client ID": sim.egain_client_id, "Client Secret": sim.egain_client_secret},
        {"token_url": simulator.egain_token_url, "timeout": "5"},
    )


@pytest.mark.usefixtures("saved")
def test_saved_connection_is_what_the_hook_reads(
    api_server: ApiServer, simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = GOOD["zilliz_cloud"]
    stored = api_server.get(f"/api/v2/connections/{conn_id}")
    assert stored["conn_type"] == "zilliz_cloud"
    assert stored["host"] == simulator.zilliz_url
    assert stored["login"] is None
    assert stored["port"] is None
    assert stored["password"] == "***"  # the API never hands the key back
    extra = json.loads(stored["extra"])
    assert extra["cluster_id"] == simulator.sim.zilliz_cluster_id
    assert extra["timeout"] == 5
    assert not any(key.startswith("extra__") for key in extra), extra
    assert set(extra) <= {e.name for e in CONNECTION_TYPES["zilliz_cloud"].extras}, extra

    password = api_server.stored_password(conn_id)
    assert password == simulator.sim.zilliz_api_key
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": stored["conn_type"], "host": stored["host"], "password": password, "extra": extra}),
    )
    from airflow_import_jobs.hooks import ZillizCloudImportHook, get_import_hook

    hook = get_import_hook(conn_id)
    try:
        assert isinstance(hook, ZillizCloudImportHook)
        assert hook.settings.timeout == 5
        assert hook.settings.base_url == simulator.zilliz_url
        ok, message = hook.test_connection()
    finally:
        hook.close()
    assert ok, message
    assert simulator.sim.zilliz_cluster_id in message


@pytest.mark.usefixtures("saved")
@pytest.mark.parametrize("conn_type", list(GOOD))
def test_test_button_reports_success(page: Page, conn_type: str) -> None:
    connection_row(page, GOOD[conn_type]).get_by_role("button", name="Test Connection").click()
    toast(page, "Test Connection Successful", CONNECTED[conn_type])


@pytest.mark.usefixtures("saved")
def test_test_button_names_the_api_key_when_it_is_wrong(page: Page) -> None:
    connection_row(page, WRONG).get_by_role("button", name="Test Connection").click()
    shown = toast(page, "Test Connection Failed", "check the API key")
    expect(shown).to_contain_text("check the API key in the connection's password field")
    expect(shown).not_to_contain_text(WRONG_KEY)
