"""deploy/nginx.conf in front of two app processes: health, a real session, and stickiness.

Debian's nginx runs in the foreground as this user, from a scratch folder, with the shipped
config rendered for this test's loopback ports (deploy/nginx_conf.py); /etc/nginx is not used.
"""

from __future__ import annotations

import asyncio
import shutil
import urllib.error
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie

import pytest

from bench.appserver import running_behind_nginx
from bench.bench_class import StreamlitClient, shows_token
from deploy import nginx_conf

pytestmark = pytest.mark.skipif(shutil.which(nginx_conf.NGINX) is None, reason="needs Debian's nginx")


def get(url: str, cookie: str | None = None):
    request = urllib.request.Request(url, headers={"Cookie": f"gptx_route={cookie}"} if cookie else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers, response.read()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """Two app processes behind nginx; yields (nginx's URL, {app address: port})."""
    with running_behind_nginx(tmp_path_factory.mktemp("nginx")) as (url, upstreams):
        yield url, upstreams


def test_health_through_nginx_sets_the_route_cookie(proxy):
    url, upstreams = proxy
    status, headers, body = get(f"{url}/_stcore/health")
    assert status == 200 and body == b"ok"
    assert headers["X-Upstream"] in upstreams
    cookies = SimpleCookie()
    for line in headers.get_all("Set-Cookie"):  # Streamlit may set its own cookies too
        cookies.load(line)
    assert len(cookies["gptx_route"].value) == 32  # a first visit gets its random route ($request_id)


def test_the_same_browser_stays_on_one_process_and_browsers_spread_over_both(proxy):
    url, upstreams = proxy
    for route in ("student-a", "student-b"):
        seen = {get(f"{url}/_stcore/health", route)[1]["X-Upstream"] for _ in range(8)}
        assert len(seen) == 1, f"{route} moved between processes: {seen}"
    spread = {get(f"{url}/_stcore/health", f"student-{i}")[1]["X-Upstream"] for i in range(24)}
    assert spread == upstreams  # with 24 routes, both processes get students


def test_a_real_session_through_nginx_renders_and_stays_on_its_process(proxy):
    url, _ = proxy
    route = "student-with-a-session"
    expected_upstream = get(f"{url}/_stcore/health", route)[1]["X-Upstream"]
    headers = {"Cookie": f"gptx_route={route}", "Origin": url}  # as a browser sends them

    async def visit():
        query = urllib.parse.urlencode({"prompt": "Every effort moves the dolphin", "model": "tiny-seed123"})
        async with StreamlitClient(url, query, timeout_s=120, headers=headers) as client:
            upstream = client.websocket.response.headers.get("X-Upstream")
            traced = await client.run("attention")
            return upstream, b"".join(traced)

    upstream, payload = asyncio.run(visit())
    assert upstream == expected_upstream
    assert b"Attention" in payload
    assert shows_token("dolphin", payload)  # the prompt's trace, computed behind the proxy
