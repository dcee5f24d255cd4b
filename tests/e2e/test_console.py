"""The web console in real headless Chromium, and the gateway as the web manager sees it.

A real Redis, controller, Celery worker and three agents on 127.0.0.2-4. Screenshots of every page land in
test-artifacts/console/ (gitignored). The browser tests skip, saying why, without chromium/chromedriver.
"""

from __future__ import annotations

import io
import json
import ssl
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import chromium, require_chromium, screenshot
from tests.e2e.conftest import tear_down
from tests.e2e.jobs_fleet import JobsFleet, site_get, tar_gz
from tests.e2e.test_controller_fleet import _local_redis

pytestmark = pytest.mark.e2e
SITE, PORT = "console", 8193
ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
WEB_MANAGER = "https://manage.iis.net"
WAIT = 60


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobsFleet]:
    fleet = JobsFleet(tmp_path_factory.mktemp("console"), _local_redis())
    try:
        fleet.start_controller()
        fleet.start_worker()
        fleet.enroll(3)
        view = fleet.wait_job(fleet.job({"action": "site.create", "target": {"labels": {"env": "e2e"}},
                                         "params": {"name": SITE, "bindings": [{"port": PORT}]}}))
        assert view["status"] == "succeeded", view
        status, artifact = fleet.upload(tar_gz({"index.html": b"release one"}))
        assert status == 201, artifact
        view = fleet.wait_job(fleet.job({"action": "files.deploy", "target": {"labels": {"env": "e2e"}},
                                         "params": {"site": SITE, "artifact": artifact["sha256"]}}))
        assert view["status"] == "succeeded", view
        yield fleet
    finally:
        tear_down(fleet)


# -- the gateway as an IIS Administration API root (no browser needed) ------------------------------------------


def _raw(fleet: JobsFleet, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(fleet.url + path, method=method, headers=headers)
    context = ssl.create_default_context(cafile=str(fleet.state / "pki" / "ca.crt"))
    try:
        with urllib.request.urlopen(request, context=context, timeout=20) as response:
            status, head, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        status, head, raw = err.code, dict(err.headers), err.read()
    try:
        return status, head, json.loads(raw) if raw else None
    except ValueError:
        return status, head, raw


def _hrefs(value: Any) -> list[str]:
    if isinstance(value, list):
        return [href for item in value for href in _hrefs(item)]
    if not isinstance(value, dict):
        return []
    found = [link["href"] for key, table in value.items() if key == "_links" and isinstance(table, dict)
             for link in table.values() if isinstance(link, dict) and "href" in link]
    return found + [href for key, item in value.items() if key != "_links" for href in _hrefs(item)]


def test_web_manager_requests_through_the_gateway(fleet: JobsFleet) -> None:
    agent = fleet.agents()["agent1"]
    prefix = f"/api/agents/{agent['id']}/iis"
    # The preflight the web manager's browser sends before its first call: no credentials, answered 204.
    status, head, _ = _raw(fleet, "OPTIONS", f"{prefix}/api", {
        "Origin": WEB_MANAGER, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "access-token,content-type"})
    assert status == 204
    assert head["Access-Control-Allow-Origin"] == WEB_MANAGER and head["Access-Control-Allow-Credentials"] == "true"
    assert "access-token" in head["Access-Control-Allow-Headers"].lower()
    assert {"GET", "POST", "PATCH", "DELETE", "OPTIONS"} <= {m.strip() for m in
                                                             head["Access-Control-Allow-Methods"].split(",")}
    status, head, _ = _raw(fleet, "OPTIONS", f"{prefix}/api", {
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert status == 204 and "Access-Control-Allow-Origin" not in head

    manager = {"Access-Token": f"Bearer {fleet.token}", "Accept": "application/hal+json", "Origin": WEB_MANAGER}
    status, head, root = _raw(fleet, "GET", f"{prefix}/api", manager)
    assert status == 200, root
    assert head["Access-Control-Allow-Origin"] == WEB_MANAGER
    exposed = {h.strip().lower() for h in head["Access-Control-Expose-Headers"].split(",")}
    assert {"x-total-count", "location", "accept-ranges", "www-authenticate"} <= exposed
    assert head["Content-Type"].startswith("application/")
    links = _hrefs(root)
    assert links and all(href.startswith(prefix + "/") for href in links), links

    status, _, webserver = _raw(fleet, "GET", f"{prefix}/api/webserver", manager)
    assert status == 200 and "websites" in webserver["_links"], webserver
    status, _, sites = _raw(fleet, "GET", webserver["_links"]["websites"]["href"], manager)
    assert status == 200 and SITE in [s["name"] for s in sites["websites"]], sites
    assert all(href.startswith(prefix + "/") for href in _hrefs(sites))
    # Follow a HAL link from the list to one site, as the web manager does.
    site = next(s for s in sites["websites"] if s["name"] == SITE)
    status, _, detail = _raw(fleet, "GET", site["_links"]["self"]["href"], manager)
    assert status == 200 and detail["name"] == SITE, detail
    links = _hrefs(detail)
    assert len(links) > 2 and all(href.startswith(prefix + "/") for href in links), links
    status, _, _ = _raw(fleet, "GET", f"{prefix}/api", {"Access-Token": "Bearer 0123456789abcdef." + "x" * 43})
    assert status in (401, 403)


# -- the console in headless Chromium -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(fleet: JobsFleet) -> Iterator[Any]:
    require_chromium()
    with chromium() as driver:
        _sign_in(driver, fleet, fleet.token)
        yield driver


def _wait(driver: Any, what: str, check: Any, timeout: float = WAIT) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: check(d), message=what)
    except TimeoutException as err:
        shot = screenshot(driver, "failed-" + "-".join(what.split()))
        text = driver.find_element("css selector", "body").text
        raise AssertionError(f"timed out waiting for {what}; screenshot {shot}; page text:\n{text}") from err


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def _sign_in(driver: Any, fleet: JobsFleet, token: str) -> None:
    driver.get(fleet.url + "/#/fleet")
    field = _wait(driver, "the sign-in form", lambda d: (_css(d, "#token") or [None])[0])
    field.send_keys(token)
    _css(driver, "form button[type=submit]")[0].click()
    _wait(driver, "the fleet page", lambda d: d.execute_script("return document.body.dataset.page") == "fleet")


def _go(driver: Any, hash_: str, page: str) -> None:
    driver.execute_script("document.body.dataset.page = ''")
    if driver.execute_script("return location.hash") == hash_:
        driver.refresh()  # the same hash fires no hashchange
    else:
        driver.execute_script("location.hash = arguments[0]", hash_)
    _wait(driver, f"the {page} page", lambda d: d.execute_script("return document.body.dataset.page") == page)


def test_sign_in_and_see_three_agents_online(fleet: JobsFleet, browser: Any) -> None:
    _go(browser, "#/fleet", "fleet")
    rows = _wait(browser, "three online agents",
                 lambda d: (r := _css(d, "#agents tbody tr[data-status=online]")) and len(r) == 3 and r)
    assert sorted(r.find_element("css selector", "a").text for r in rows) == ["agent1", "agent2", "agent3"]
    assert "3 online" in _css(browser, ".summary")[0].text
    cookie = browser.get_cookie("__Host-iisfleet_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly: the page cannot read it
    screenshot(browser, "fleet")
    next(c for c in _css(browser, "#agents tbody tr button.chip") if c.text == "slot=s2").click()  # filter by a chip
    _wait(browser, "the label filter", lambda d: len(_css(d, "#agents tbody tr")) == 1)
    screenshot(browser, "fleet-filtered")


def test_recycle_a_pool_from_the_agent_page(fleet: JobsFleet, browser: Any) -> None:
    agent = fleet.agents()["agent2"]
    _go(browser, f"#/agents/{agent['id']}", "agent")
    recycle = f"button[data-action='pool.recycle'][data-name='{SITE}']"
    button = _wait(browser, "the recycle button", lambda d: (_css(d, recycle) or [None])[0])
    _wait(browser, "a chart", lambda d: _css(d, "svg.spark"))
    button.click()
    panel = _wait(browser, "the job panel", lambda d: (_css(d, ".activity section.job") or [None])[0])
    _wait(browser, "the job to succeed live", lambda d: panel.get_attribute("data-status") == "succeeded")
    assert "succeeded" in panel.text and "agent2" in panel.text
    job_id = panel.get_attribute("data-job")
    status, view = fleet.call("GET", f"/api/jobs/{job_id}")
    assert status == 200 and view["action"] == "pool.recycle" and view["status"] == "succeeded", view
    assert [r["name"] for r in view["results"]] == ["agent2"]
    screenshot(browser, "agent")
    _go(browser, f"#/jobs/{job_id}", "job")
    _wait(browser, "the job page",
          lambda d: (p := _css(d, "section.job")) and p[0].get_attribute("data-status") == "succeeded")
    screenshot(browser, "job")
    _go(browser, "#/jobs", "jobs")
    assert job_id in browser.find_element("css selector", "main").text
    screenshot(browser, "jobs")


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _deploy_from_page(browser: Any, source_field: str, source: Path, expect: str) -> Any:
    """Fill the Deploy form (content, site, selector, health check), submit, and wait for the job to finish."""
    _go(browser, "#/deploy", "deploy")
    _css(browser, source_field)[0].send_keys(str(source))
    _css(browser, "#site")[0].send_keys(SITE)
    _css(browser, "#selector")[0].send_keys("env=e2e")
    _css(browser, "#health-path")[0].send_keys("/index.html")
    _css(browser, "#health-contains")[0].send_keys(expect)
    _css(browser, "form button[type=submit]")[0].click()
    panel = _wait(browser, "the deploy job", lambda d: (_css(d, ".activity section.job") or [None])[0])
    _wait(browser, "the deploy to finish", lambda d: panel.get_attribute("data-status") in ("succeeded", "failed"))
    return panel


def test_deploy_a_zip_then_roll_back(fleet: JobsFleet, browser: Any, tmp_path: Path) -> None:
    archive = tmp_path / "release-two.zip"
    archive.write_bytes(_zip({"index.html": b"release two from the console", "css/site.css": b"body{}"}))
    panel = _deploy_from_page(browser, "#archive", archive, "release two")
    assert panel.get_attribute("data-status") == "succeeded", panel.text
    assert {site_get(address, PORT, "/index.html")[1] for address in ADDRESSES} == {"release two from the console"}
    screenshot(browser, "deploy")

    _css(browser, "#health-contains")[0].clear()
    _css(browser, "#health-contains")[0].send_keys("release one")
    _css(browser, "form .actions button.danger")[0].click()
    _wait(browser, "the rollback job", lambda d: len(_css(d, ".activity section.job")) == 2)
    rollback = _css(browser, ".activity section.job")[0]
    _wait(browser, "the rollback to succeed",
          lambda d: rollback.get_attribute("data-status") in ("succeeded", "failed"))
    assert rollback.get_attribute("data-status") == "succeeded", rollback.text
    assert {site_get(address, PORT, "/index.html")[1] for address in ADDRESSES} == {"release one"}
    screenshot(browser, "deploy-rolled-back")


def test_deploy_a_folder(fleet: JobsFleet, browser: Any, tmp_path: Path) -> None:
    # The page packs the chosen folder into a tar in the browser (controller/console/static/js/tar.js).
    folder = tmp_path / "site"
    (folder / "css").mkdir(parents=True)
    (folder / "index.html").write_text("release three, a folder")
    (folder / "css" / "site.css").write_text("body{}")
    panel = _deploy_from_page(browser, "#folder", folder, "release three")
    assert panel.get_attribute("data-status") == "succeeded", panel.text
    assert "2 files" in _css(browser, ".deploy-status")[0].text
    assert {site_get(address, PORT, "/index.html")[1] for address in ADDRESSES} == {"release three, a folder"}
    assert {site_get(address, PORT, "/css/site.css")[1] for address in ADDRESSES} == {"body{}"}


def test_a_refused_action_shows_the_servers_error(fleet: JobsFleet, browser: Any, tmp_path: Path) -> None:
    archive = tmp_path / "refused.zip"
    archive.write_bytes(_zip({"index.html": b"never served"}))
    _go(browser, "#/deploy", "deploy")
    _css(browser, "#archive")[0].send_keys(str(archive))
    _css(browser, "#site")[0].send_keys(SITE)
    _css(browser, "#selector")[0].send_keys("env=nowhere")
    _css(browser, "form button[type=submit]")[0].click()
    error = _wait(browser, "the server's error", lambda d: (_css(d, ".deploy-status .note.error") or [None])[0])
    assert "400" in error.text and "matches no agent" in error.text, error.text
    screenshot(browser, "deploy-refused")


def test_rerun_what_failed_from_the_job_page(fleet: JobsFleet, browser: Any) -> None:
    failing = fleet.job({"action": "pool.recycle", "target": {"labels": {"slot": "s1"}},
                         "params": {"name": "no-such-pool"}, "strategy": {"retries": 0}})
    _go(browser, f"#/jobs/{failing}", "job")
    panel = _wait(browser, "the job to fail live",
                  lambda d: (p := _css(d, "section.job")) and p[0].get_attribute("data-status") == "failed" and p[0])
    rerun = _wait(browser, "the re-run button",
                  lambda d: next((b for b in _css(d, "section.job button") if b.text == "Re-run failed"), None))
    assert "agent1" in panel.text
    rerun.click()
    _wait(browser, "the re-run's page", lambda d: failing not in d.execute_script("return location.hash"))
    new_id = browser.execute_script("return location.hash").rsplit("/", 1)[1]
    status, view = fleet.call("GET", f"/api/jobs/{new_id}")
    assert status == 200 and view["parent"] == failing and [r["name"] for r in view["results"]] == ["agent1"], view
    _wait(browser, "the re-run to finish",
          lambda d: (p := _css(d, "section.job")) and p[0].get_attribute("data-status") == "failed")
    screenshot(browser, "job-rerun")


def test_cancel_a_running_job_from_its_page(fleet: JobsFleet, browser: Any) -> None:
    # One agent at a time, each step held up by a health check that never passes: time to press Cancel.
    status, artifact = fleet.upload(tar_gz({"index.html": b"never healthy"}))
    assert status == 201, artifact
    job_id = fleet.job({"action": "files.deploy", "target": {"labels": {"env": "e2e"}},
                        "params": {"site": SITE, "artifact": artifact["sha256"]},
                        "strategy": {"batch_size": 1, "retries": 0,
                                     "health_check": {"path": "/index.html", "contains": "nope", "timeout": 15}}})
    _go(browser, f"#/jobs/{job_id}", "job")
    cancel = _wait(browser, "the cancel button",
                   lambda d: next((b for b in _css(d, "section.job button") if b.text == "Cancel job"), None))
    cancel.click()
    _wait(browser, "the job to end cancelled", lambda d: (p := _css(d, "section.job"))
          and p[0].get_attribute("data-status") in ("cancelled", "failed", "succeeded"))
    status, view = fleet.call("GET", f"/api/jobs/{job_id}")
    assert view["status"] == "cancelled" and view["cancel_requested"], view
    assert view["counts"].get("cancelled", 0) >= 1, view
    assert [r["status"] for r in view["results"]][1:] == ["cancelled", "cancelled"], view
    screenshot(browser, "job-cancelled")


def test_admin_page_join_token_and_audit(fleet: JobsFleet, browser: Any) -> None:
    _go(browser, "#/admin", "admin")
    _css(browser, "#join-labels")[0].send_keys("env=new")
    _css(browser, "form[aria-label='Create a join token'] button")[0].click()
    command = _wait(browser, "the agent command line", lambda d: (_css(d, "code.command") or [None])[0])
    assert command.text.startswith("echo '") and "| iisfleet agent run " in command.text
    assert f"--controller {fleet.url}" in command.text and command.text.endswith("--join-token-file -")
    assert "/iis/api" in browser.find_element("css selector", "#audit-h").find_element("xpath", "..").text
    screenshot(browser, "admin")


def test_a_forged_write_without_the_csrf_token_is_refused(fleet: JobsFleet, browser: Any) -> None:
    # Script on the console's own origin sends the session cookie; without the CSRF header it gets 403.
    answer = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/join-tokens', {method: 'POST', credentials: 'same-origin',
                                   headers: {'Content-Type': 'application/json'}, body: JSON.stringify({ttl: '5m'})})
          .then(async (r) => done({status: r.status, body: await r.json()}), (e) => done({error: String(e)}));
    """)
    assert answer["status"] == 403 and answer["body"]["name"] == "X-CSRF-Token", answer


def test_a_viewer_sees_no_action_buttons_and_is_refused_server_side(fleet: JobsFleet) -> None:
    require_chromium()
    viewer = fleet.cli("controller", "key", "create", "--state-dir", str(fleet.state), *fleet.redis_args(),
                       "--purpose", "e2e viewer", "--role", "viewer")
    agent = fleet.agents()["agent1"]
    with chromium() as driver:
        _sign_in(driver, fleet, viewer)
        assert "viewer" in _css(driver, "#who")[0].text
        _go(driver, f"#/agents/{agent['id']}", "agent")
        _wait(driver, "the pools", lambda d: SITE in d.find_element("css selector", "main").text)
        _wait(driver, "a chart", lambda d: _css(d, "svg.spark"))
        assert not _css(driver, "main button[data-action]"), "a viewer must not see start/stop/recycle"
        screenshot(driver, "agent-viewer")
        _go(driver, "#/deploy", "deploy")
        assert not _css(driver, "main form button") and "viewer" in driver.find_element("css selector", "main").text
        _go(driver, "#/admin", "admin")
        assert not _css(driver, "main form"), "a viewer must not see key or join-token forms"
        screenshot(driver, "admin-viewer")
        # Hand-made writes: without the CSRF token 403; with it, the role check still says 403.
        answer = driver.execute_async_script("""
            const [done, agentId] = [arguments[arguments.length - 1], arguments[0]];
            const body = JSON.stringify({action: 'pool.recycle', target: {agents: [agentId]}, params: {name: 'x'}});
            const post = (headers) => fetch('/api/jobs', {method: 'POST', credentials: 'same-origin', body,
                                                          headers: {'Content-Type': 'application/json', ...headers}});
            (async () => {
              const session = await (await fetch('/api/session')).json();
              const forged = await post({});
              const withToken = await post({'X-CSRF-Token': session.csrf_token});
              done({forged: [forged.status, await forged.json()], role: [withToken.status, await withToken.json()]});
            })().catch((e) => done({error: String(e)}));
        """, agent["id"])
        assert answer["forged"][0] == 403 and answer["forged"][1]["name"] == "X-CSRF-Token", answer
        assert answer["role"][0] == 403 and answer["role"][1]["name"] == "role", answer
    status, jobs = fleet.call("GET", "/api/jobs?per_page=50")
    assert all(job["params"].get("name") != "x" for job in jobs["jobs"]), "a refused write started a job"


def test_narrow_and_dark_layouts(fleet: JobsFleet) -> None:
    require_chromium()
    with chromium(width=390, height=844, dark=True) as driver:
        driver.get(fleet.url + "/")
        _sign_in(driver, fleet, fleet.token)
        _wait(driver, "three agents", lambda d: len(_css(d, "#agents tbody tr")) == 3)
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at 390 px ({width})"
        assert driver.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches")
        screenshot(driver, "fleet-390-dark")
        agent = fleet.agents()["agent1"]
        _go(driver, f"#/agents/{agent['id']}", "agent")
        _wait(driver, "the pools", lambda d: _css(d, f"button[data-action='pool.recycle'][data-name='{SITE}']"))
        screenshot(driver, "agent-390-dark")
        # Keyboard: the skip link comes first; tabbing reaches an agent's link and Enter opens its page.
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        _go(driver, "#/fleet", "fleet")
        driver.refresh()  # a fresh load: focus starts at the top of the document
        _wait(driver, "the fleet page", lambda d: len(_css(d, "#agents tbody tr")) == 3)
        def focused() -> str:
            return str(driver.execute_script("return document.activeElement.textContent"))

        ActionChains(driver).send_keys(Keys.TAB).perform()
        assert focused() == "Skip to content"
        for _ in range(40):
            if focused() == "agent1":
                break
            ActionChains(driver).send_keys(Keys.TAB).perform()
        assert focused() == "agent1"
        ActionChains(driver).send_keys(Keys.ENTER).perform()
        _wait(driver, "the agent page by keyboard",
              lambda d: d.execute_script("return document.body.dataset.page") == "agent")
