"""The web desk over HTTP (the real Starlette app through httpx): who may see, who may decide, and
what a decision that can no longer be made looks like. Every action comes from real plan cycles."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import yaml
from desk_lab import HOSTILE, ORIGIN, csrf_of, decide, login

from helpers import container, write_world
from steward.app import actions
from steward.interfaces.cli.main import main
from steward.plan.engine import Engine
from steward.state.actions import QueueError
from steward.state.tokens import Tokens


def test_every_page_needs_a_login_and_the_login_comes_back_to_the_page(desk) -> None:
    action = desk.cycles("piha", "mqtt")
    client = desk.client()
    for path in ("/", f"/actions/{action}", "/hosts", "/journal"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={path}", path
    for path in ("/api/queue", "/api/journal"):  # the page's script reloads on 401: never a stale queue
        assert client.get(path).status_code == 401, path
    answer = login(client, desk.token, next_=f"/actions/{action}")
    assert answer.status_code == 303 and answer.headers["location"] == f"/actions/{action}"
    cookie = answer.headers["set-cookie"]
    assert "steward_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert action in client.get(f"/actions/{action}").text


def test_a_wrong_token_opens_nothing_and_a_login_post_needs_the_forms_nonce(desk) -> None:
    client = desk.client()
    answer = login(client, desk.token + "x")
    assert answer.status_code == 401 and "that token is not valid" in answer.text
    assert "steward_session" not in client.cookies and client.get("/").status_code == 303
    client.get("/login")  # the login cookie is set, but the form's value is missing
    answer = client.post("/login", data={"token": desk.token}, headers={"Origin": ORIGIN})
    assert answer.status_code == 403 and "steward_session" not in client.cookies
    answer = login(client, desk.token, next_="//evil.example/")  # never sent elsewhere after the login
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_a_host_name_not_allowed_is_refused_before_any_page_and_every_answer_has_the_headers(desk) -> None:
    client = desk.client()
    refused = client.get("/login", headers={"Host": "rebound.example:8754"})
    assert refused.status_code == 400 and "--allow-host" in refused.text
    allowed = desk.client("desk.tailnet.example").get("/login", headers={"Host": "desk.tailnet.example"})
    assert allowed.status_code == 200
    for answer in (refused, allowed, client.get("/metrics"), client.get("/static/steward.js")):
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in allowed.text.replace('<script src="/static/steward.js" defer></script>', "")


def test_a_decision_needs_the_pages_origin_and_its_csrf_token(desk) -> None:
    action = desk.cycles("piha", "mqtt")
    client = desk.logged_in()
    csrf = csrf_of(client, f"/actions/{action}")
    url = f"/actions/{action}/approve"
    assert client.post(url, data={"csrf": csrf}).status_code == 403  # no Origin, no Referer
    assert client.post(url, data={"csrf": csrf}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post(url, data={"csrf": csrf}, headers={"Origin": "http://127.0.0.1:9999"}).status_code == 403
    assert client.post(url, data={"csrf": csrf}, headers={"Origin": "null"}).status_code == 403
    assert client.post(url, data={}, headers={"Origin": ORIGIN}).status_code == 403
    assert client.post(url, data={"csrf": "x" + csrf}, headers={"Origin": ORIGIN}).status_code == 403
    assert desk.client().post(url, data={"csrf": csrf}, headers={"Origin": ORIGIN}).status_code == 401
    assert desk.folder_of(action) == ["pending"] and desk.events("action_approved") == []
    referer_only = client.post(url, data={"csrf": csrf}, headers={"Referer": f"{ORIGIN}/actions/{action}"})
    assert referer_only.status_code == 303 and desk.folder_of(action) == ["approved"]


def test_approve_on_the_page_is_the_queues_move_journaled_via_web_by_the_tokens_name(desk) -> None:
    action = desk.cycles("piha", "mqtt")
    client = desk.logged_in()
    page = client.get(f"/actions/{action}").text
    assert "container mqtt is exited" in page and "Approve" in page and "Reject" in page
    assert "&#34;state&#34;: &#34;exited&#34;" in page  # observed beside desired
    answer = decide(client, action, "approve", reason="the spare is ready")
    assert answer.status_code == 303 and answer.headers["location"] == f"/actions/{action}"
    assert desk.folder_of(action) == ["approved"]
    (approved,) = desk.events("action_approved")
    assert (approved["via"], approved["by"], approved["reason"]) == ("web", "operator", "the spare is ready")
    after = client.get(f"/actions/{action}").text
    assert 'action="/actions/' + action + '/approve"' not in after  # no second approve button
    assert f'<tr class="row-approved" data-action="{action}">' in client.get("/").text


def test_a_decision_made_elsewhere_a_second_earlier_is_refused_with_the_real_state(desk) -> None:
    action = desk.cycles("piha", "mqtt")
    client = desk.logged_in()
    csrf = csrf_of(client, f"/actions/{action}")  # the page is open with its buttons...
    assert (
        main(["--state-dir", str(desk.settings.state_dir), "-i", str(desk.settings.inventory), "approve", action]) == 0
    )
    answer = client.post(f"/actions/{action}/approve", data={"csrf": csrf}, headers={"Origin": ORIGIN})
    assert answer.status_code == 409 and "is in approved/" in answer.text
    assert desk.folder_of(action) == ["approved"] and len(desk.events("action_approved")) == 1
    assert desk.events("action_approved")[0]["via"] == "cli"
    second = desk.cycles("saturn", "gitea")
    actions.reject(desk.settings, second, "not tonight", via="cli", by="ops")
    answer = client.post(f"/actions/{second}/approve", data={"csrf": csrf}, headers={"Origin": ORIGIN})
    assert answer.status_code == 409 and "rejected" in answer.text
    assert desk.folder_of(second) == ["rejected"] and 'value="' + csrf + '"' not in answer.text.split("<main>")[1]


def test_reject_needs_a_reason_and_records_it(desk) -> None:
    action = desk.cycles("piha", "mqtt")
    client = desk.logged_in()
    answer = decide(client, action, "reject", reason="   ")
    assert answer.status_code == 400 and "needs a reason" in answer.text and desk.folder_of(action) == ["pending"]
    answer = decide(client, action, "reject", reason="mqtt is being migrated\nto piha2")
    assert answer.status_code == 303 and desk.folder_of(action) == ["rejected"]
    (rejected,) = desk.events("action_rejected")
    assert (rejected["via"], rejected["by"], rejected["reason"]) == (
        "web",
        "operator",
        "mqtt is being migrated to piha2",
    )
    page = client.get(f"/actions/{action}").text
    assert "rejected by operator (web): mqtt is being migrated to piha2" in page and "Approve" not in page


def test_an_expired_action_shows_no_buttons_is_refused_and_reads_expired_never_rejected(desk) -> None:
    action = desk.expired_pending()
    client = desk.logged_in()
    page = client.get(f"/actions/{action}").text
    assert "expired" in page and 'class="approve"' not in page and 'class="reject"' not in page
    queue = client.get("/").text
    assert re.search(r"countdown over[^>]*>expired<", queue)
    csrf = csrf_of(client, "/")
    answer = client.post(f"/actions/{action}/approve", data={"csrf": csrf}, headers={"Origin": ORIGIN})
    assert answer.status_code == 409 and "expired: not approved before" in answer.text
    assert desk.folder_of(action) == ["pending"] and desk.events("action_approved") == []
    answer = decide(client, action, "reject", reason="too late anyway")  # never recorded as a rejection
    assert answer.status_code == 409 and "expired: not rejected before" in answer.text
    assert desk.folder_of(action) == ["pending"] and desk.events("action_rejected") == []
    (expired,) = Engine(desk.settings).plan().expired  # the next cycle moves it
    page = client.get(f"/actions/{expired}").text
    assert desk.folder_of(action) == ["expired"] and "rejected" not in page.lower()
    assert re.search(r'class="outcome outcome-expired">[^<]*expired', page)


def test_a_revoked_token_ends_its_sessions_at_the_next_request(desk) -> None:
    client = desk.logged_in()
    assert client.get("/").status_code == 200
    Tokens(desk.settings.paths).revoke("operator")
    assert client.get("/").status_code == 303
    Tokens(desk.settings.paths).add("operator")  # the same name again is another token
    assert client.get("/").status_code == 303


def test_a_nodes_string_is_shown_inert_on_the_hosts_and_journal_pages(desk) -> None:
    at = datetime.now(UTC) - timedelta(minutes=1)
    write_world(desk.settings, "piha", [container("mqtt", image="evil/" + HOSTILE)], observed_at=at)
    assert Engine(desk.settings).plan().skipped  # the world file is refused where it enters
    client = desk.logged_in()
    for path in ("/hosts", "/journal"):
        text = client.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "&lt;script&gt;alert" in text, path
    feed = client.get("/api/journal")  # data for the page's script, which sets it as text only
    assert feed.headers["content-type"] == "application/json" and feed.headers["x-content-type-options"] == "nosniff"
    assert any("<script>alert" in str(e.get("reason")) for e in feed.json()["events"])
    script = client.get("/static/steward.js").text
    assert "textContent" in script and not re.search(
        r"innerHTML|outerHTML|insertAdjacentHTML|eval\(|document\.write", script
    )


def test_a_storm_shows_on_the_hosts_page_and_its_acknowledgement_is_journaled_via_web(desk) -> None:
    client = desk.logged_in()
    csrf = csrf_of(client, "/hosts")
    calm = client.post("/storm/ack", data={"csrf": csrf}, headers={"Origin": ORIGIN})
    assert calm.status_code == 303 and "no%20storm" in calm.headers["location"]
    inventory = yaml.safe_load(desk.settings.inventory.read_text())
    inventory["all"]["vars"] = {"steward_policy": {"storm_max_actions": 2}}
    desk.settings.inventory.write_text(yaml.safe_dump(inventory))
    engine, start = Engine(desk.settings), datetime.now(UTC) - timedelta(minutes=5)
    for n in range(2):  # three services stop at once: more new actions than the breaker lets through
        at = start + timedelta(minutes=n)
        for host, name in (("piha", "mqtt"), ("saturn", "gitea"), ("vps", "caddy")):
            write_world(desk.settings, host, [container(name, state="exited")], observed_at=at)
        report = engine.plan(now=at + timedelta(seconds=5))
    assert report.storm and report.new_actions == []
    page = client.get("/hosts").text
    assert "Storm since cycle" in page and "Acknowledge storm" in page
    answer = client.post("/storm/ack", data={"csrf": csrf}, headers={"Origin": ORIGIN})
    assert answer.status_code == 303 and "storm%20acknowledged" in answer.headers["location"]
    (ack,) = desk.events("storm_ack_requested")
    assert (ack["via"], ack["by"]) == ("web", "operator")
    assert len(engine.plan().new_actions) == 3  # the next cycle writes what was held back


def test_the_journal_filters_and_its_live_feed_gives_only_what_is_new(desk) -> None:
    first = desk.cycles("piha", "mqtt")
    client = desk.logged_in()
    rows = client.get("/api/journal", params={"host": "piha"}).json()["events"]
    assert rows and all(e["host"] == "piha" for e in rows) and rows[0]["type"] == "action_pending"
    assert client.get("/api/journal", params={"host": "saturn"}).json()["events"] == []
    newest = rows[0]["id"]
    second = desk.cycles("saturn", "gitea")
    new = client.get("/api/journal", params={"after": newest}).json()["events"]
    assert [e["action"] for e in new if e["type"] == "action_pending"] == [second] and first != second
    page = client.get("/journal", params={"key": "saturn/docker"}).text
    assert second in page and first not in page


def test_metrics_need_no_login_and_carry_the_queue_and_no_secret(desk) -> None:
    action = desk.cycles("piha", "mqtt")
    desk.cycles("saturn", "gitea")
    actions.approve(desk.settings, action, via="cli", by="ops")
    text = desk.client().get("/metrics").text
    assert 'steward_actions{folder="pending"} 1.0' in text and 'steward_actions{folder="approved"} 1.0' in text
    assert 'steward_drifts{area="docker",host="piha"} 1.0' in text
    assert 'steward_host_reachable{host="saturn"} 1.0' in text and "steward_storm_active 0.0" in text
    age = re.search(r"^steward_pending_oldest_age_seconds (\S+)$", text, re.M)
    assert age and float(age.group(1)) > 0
    secret = desk.settings.paths.engine / "ui-secret.key"
    assert desk.token not in text and secret.read_bytes().hex() not in text


def race(desk, action: str) -> list[str]:
    """Two web approvals and two CLI approvals of one action, released at the same moment."""
    import threading

    client = desk.logged_in()
    csrf = csrf_of(client, f"/actions/{action}")
    start = threading.Barrier(4)
    answers: list[str] = []

    def web() -> None:
        start.wait()
        answer = client.post(f"/actions/{action}/approve", data={"csrf": csrf}, headers={"Origin": ORIGIN})
        answers.append({303: "moved", 409: "refused"}.get(answer.status_code, str(answer.status_code)))

    def cli() -> None:
        start.wait()
        try:
            actions.approve(desk.settings, action, via="cli", by="ops")
            answers.append("moved")
        except QueueError:
            answers.append("refused")

    threads = [threading.Thread(target=f) for f in (web, web, cli, cli)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(answers)


def test_a_web_approve_racing_cli_approves_makes_exactly_one_move(desk) -> None:
    for host, name in (("piha", "mqtt"), ("saturn", "gitea"), ("vps", "caddy")):
        action = desk.cycles(host, name)
        assert race(desk, action) == ["moved", "refused", "refused", "refused"]  # never a 500, never two moves
        assert desk.folder_of(action) == ["approved"]
        assert [e["action"] for e in desk.events("action_approved")].count(action) == 1


def test_a_desk_whose_tokens_were_all_revoked_stays_locked_after_a_restart(desk) -> None:
    from steward.interfaces.web.cli import FIRST_TOKEN_FILE, first_token

    Tokens(desk.settings.paths).revoke("operator")
    first_token(desk.settings)  # what `steward ui` does at every start
    assert Tokens(desk.settings.paths).names() == []
    assert not (desk.settings.paths.engine / FIRST_TOKEN_FILE).exists()


def test_a_non_ascii_csrf_value_is_refused_not_an_error(desk) -> None:
    action = desk.cycles("piha", "mqtt")
    client = desk.logged_in()
    answer = client.post(f"/actions/{action}/approve", data={"csrf": "é" * 32}, headers={"Origin": ORIGIN})
    assert answer.status_code == 403 and desk.folder_of(action) == ["pending"]


def test_the_first_start_of_a_desk_makes_one_token_in_a_0600_file_and_only_once(tmp_path, capsys) -> None:
    from helpers import make_settings, service
    from steward.interfaces.web.cli import FIRST_TOKEN_FILE, first_token

    settings = make_settings(tmp_path, {"piha": [service("mqtt")]})
    first_token(settings)
    where = settings.paths.engine / FIRST_TOKEN_FILE
    token = where.read_text().strip()
    assert where.stat().st_mode & 0o777 == 0o600 and Tokens(settings.paths).holder(token).name == "operator"
    said = capsys.readouterr()
    assert str(where) in said.err and token not in said.err + said.out  # where it is, never the token
    first_token(settings)
    assert [t["name"] for t in Tokens(settings.paths).names()] == ["operator"]
