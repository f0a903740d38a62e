"""The API docs page, served from the service's own files, in a real browser that may not
leave the machine."""

from __future__ import annotations

from playwright.sync_api import Page, Route, expect

from tests.web.conftest import Live


def test_the_docs_render_every_operation_with_nothing_fetched_elsewhere(
    page: Page, live: Live
) -> None:
    elsewhere: list[str] = []

    def local_only(route: Route) -> None:
        if route.request.url.startswith(live.url):
            route.continue_()
        else:  # as on a machine without internet: the request fails
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.goto(f"{live.url}/docs")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Imaging service help desk")
    operations = page.locator(".opblock-summary-path")
    expect(operations.filter(has_text="/search").first).to_be_visible()
    # every operation, once under each of its tags
    listed = [op for methods in live_paths(page, live).values() for op in methods.values()]
    expect(operations).to_have_count(sum(len(op.get("tags") or ["default"]) for op in listed))
    # an operation opens with its description and its parameters
    page.locator('.opblock-summary-path[data-path="/search"]').first.click()
    expect(page.locator(".opblock-body").first).to_contain_text("Request body")
    assert elsewhere == []

    page.goto(f"{live.url}/redoc")
    expect(page).to_have_url(f"{live.url}/docs")


def live_paths(page: Page, live: Live) -> dict[str, dict[str, dict]]:
    """The OpenAPI document's paths, each with its operations."""
    document = page.request.get(f"{live.url}/openapi.json").json()
    methods = {"get", "post", "put", "patch", "delete"}
    return {
        path: {m: op for m, op in ops.items() if m in methods}
        for path, ops in document["paths"].items()
    }
