"""Watch streams over a compacted change log, and periodic bookmarks
(qwenops_testing.emulator.watches), checked over HTTP."""

from __future__ import annotations

from qwenops_testing.emulator import KubeEmulator
from tests.unit.emulator_http import (
    WIDGETS,
    Api,
    api,
    emulator,
    until,
    widget,
)

__all__ = ["api", "emulator"]  # the fixtures


async def test_a_watch_from_a_compacted_resource_version_is_expired(api: Api, emulator: KubeEmulator) -> None:
    first = await api.ok("POST", WIDGETS, widget("a"))
    await api.ok("POST", WIDGETS, widget("b"))
    emulator.compact()
    since = first["metadata"]["resourceVersion"]
    async with api.watch(f"{WIDGETS}?watch=true&resourceVersion={since}") as events:
        event = await events()
    assert event["type"] == "ERROR"
    status = event["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"].startswith(f"too old resource version: {since} (")
    _, listing = await api.get(WIDGETS)  # a client lists again, and watches on from the list
    latest = listing["metadata"]["resourceVersion"]
    async with api.watch(f"{WIDGETS}?watch=true&resourceVersion={latest}") as events:
        await api.ok("POST", WIDGETS, widget("c"))
        event = await events()
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "c")


async def test_an_open_stream_ends_with_410_when_compaction_expires_it(
    api: Api, emulator: KubeEmulator
) -> None:
    async with api.watch(f"{WIDGETS}?watch=true") as events:
        await api.ok("POST", WIDGETS, widget("a"))
        assert (await events())["type"] == "ADDED"
        emulator.compact(expire_watches=True)
        event = await events()
        assert event["type"] == "ERROR"
        assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
        assert await events() is None  # the stream ends


async def test_the_compaction_window_drops_old_changes(api: Api, emulator: KubeEmulator) -> None:
    first = await api.ok("POST", WIDGETS, widget("first"))
    emulator.compaction_window = 0.2
    since = first["metadata"]["resourceVersion"]
    names = iter(range(1000))

    async def expired() -> bool:
        await api.ok("POST", WIDGETS, widget(f"later-{next(names)}"))  # each write compacts what is too old
        async with api.watch(f"{WIDGETS}?watch=true&resourceVersion={since}&timeoutSeconds=1") as events:
            event = await events()
        return event is not None and event["type"] == "ERROR" and event["object"]["code"] == 410

    await until(expired, "the first change compacted away")


async def test_bookmarks_come_when_allowed_and_the_stream_is_quiet(api: Api, emulator: KubeEmulator) -> None:
    emulator.bookmark_interval = 0.1
    created = await api.ok("POST", WIDGETS, widget("a"))
    since = created["metadata"]["resourceVersion"]
    async with api.watch(f"{WIDGETS}?watch=true&resourceVersion={since}&allowWatchBookmarks=true") as events:
        bookmark = await events()
        await api.ok("POST", WIDGETS, widget("b"))
        added = await events()
        again = await events()
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"] == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"resourceVersion": since},
    }
    assert added["type"] == "ADDED"
    assert again["type"] == "BOOKMARK"
    assert again["object"]["metadata"]["resourceVersion"] == added["object"]["metadata"]["resourceVersion"]
    latest = added["object"]["metadata"]["resourceVersion"]
    async with api.watch(f"{WIDGETS}?watch=true&resourceVersion={latest}&timeoutSeconds=0.3") as events:
        assert await events() is None  # not asked for: none
