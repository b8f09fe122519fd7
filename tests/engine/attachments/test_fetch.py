"""Downloading and extracting attachments against a real local HTTP file server."""

from __future__ import annotations

import base64

import pytest

from heavy_engine.attachments import (
    Attachment,
    AttachmentLimits,
    Attachments,
    HostPolicy,
    discord_policy,
    fetch_attachments,
    slack_policy,
)

from .conftest import PNG, FileServer

TOKEN = "xoxb-test-token-123"


def slack(server: FileServer) -> HostPolicy:
    return slack_policy(TOKEN, {"SLACK_API_URL": f"{server.url}/api/"})


def att(server: FileServer, name: str, **kw: object) -> Attachment:
    return Attachment(name=name, url=f"{server.url}/files/{name}", **kw)  # type: ignore[arg-type]


async def test_text_and_pdf_become_labelled_context(files: FileServer) -> None:
    got = await fetch_attachments(
        [att(files, "notes.txt"), att(files, "report.pdf"), att(files, "data.csv")], slack(files))
    assert got.notes == []
    assert [(d.name, d.kind) for d in got.documents] == [
        ("notes.txt", "text"), ("report.pdf", "pdf"), ("data.csv", "text")]
    text = got.context_text()
    assert 'Contents of attached file "notes.txt"' in text
    assert "ship on Friday" in text
    assert 'PDF text of attached file "report.pdf"' in text
    assert "Quarterly revenue rose 12 percent" in text and "Costs fell" in text
    assert "north,10" in text


async def test_slack_token_goes_only_to_the_slack_origin(
        files: FileServer, other: FileServer) -> None:
    got = await fetch_attachments([att(files, "notes.txt"), att(files, "away.txt"),
                                   Attachment("x.txt", f"{other.url}/x.txt")], slack(files))
    assert files.auth == [f"Bearer {TOKEN}", f"Bearer {TOKEN}"]
    assert other.seen == []  # neither the redirect nor the foreign URL reached it
    assert got.notes == ["skipped away.txt: not from Slack's file host",
                         "skipped x.txt: not from Slack's file host"]


async def test_without_slack_api_url_only_slack_hosts_are_allowed(files: FileServer) -> None:
    policy = slack_policy(TOKEN, {})
    assert policy.allows("https://files.slack.com/files-pri/T1-F1/download/a.txt")
    assert not policy.allows("http://files.slack.com/files-pri/T1-F1/a.txt")  # no plain HTTP
    assert not policy.allows("https://files.slack.com.evil.example/a.txt")
    assert not policy.allows(f"{files.url}/files/notes.txt")
    assert TOKEN not in repr(policy)
    got = await fetch_attachments([att(files, "notes.txt")], policy)
    assert got.notes == ["skipped notes.txt: not from Slack's file host"]
    assert files.seen == []


async def test_a_same_origin_redirect_is_followed(files: FileServer) -> None:
    got = await fetch_attachments([att(files, "hop.txt")], slack(files))
    assert got.notes == [] and "ship on Friday" in got.documents[0].text


async def test_slack_sign_in_page_is_named(files: FileServer) -> None:
    got = await fetch_attachments([att(files, "login.txt")], slack(files))
    assert got.documents == []
    assert got.notes == ["skipped login.txt: download failed (Slack sent a sign-in page; "
                         "is the files:read scope granted?)"]


async def test_discord_keeps_the_signed_query_and_sends_no_token(files: FileServer) -> None:
    query = "ex=6650a1b2&is=664f5032&hm=3f1a%2Bb9c0d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a&"
    url = f"{files.url}/attachments/1/2/notes.txt?{query}"
    got = await fetch_attachments([Attachment("notes.txt", url, 31, "text/plain", "discord")],
                                  discord_policy({"DISCORD_API_URL": f"{files.url}/api/v10"}))
    assert got.notes == [] and "ship on Friday" in got.context_text()
    assert files.queries == [query]
    assert files.auth == [None]


def test_discord_policy_allows_only_the_cdn() -> None:
    policy = discord_policy({})
    assert policy.allows("https://cdn.discordapp.com/attachments/1/2/a.txt?ex=1&is=2&hm=3")
    assert policy.allows("https://media.discordapp.net/attachments/1/2/a.png")
    assert not policy.allows("https://discord.com/attachments/1/2/a.txt")
    assert not policy.allows("https://cdn.discordapp.com:8443/a.txt")
    assert not policy.allows("ftp://cdn.discordapp.com/a.txt")
    assert not policy.allows("not a url")


@pytest.mark.parametrize(("name", "size", "note"), [
    # the declared size already says too big: not downloaded at all
    ("big.csv", 2_000_000, "skipped big.csv: over 1 MB"),
    # no declared size, no Content-Length: the cap holds while reading
    ("big.csv", None, "skipped big.csv: over 1 MB"),
    # a file the platform gives no link for (hidden, external)
    ("old.txt", None, "skipped old.txt: no download link"),
    # an unsupported type is never downloaded
    ("data.bin", 10, "skipped data.bin: unsupported type"),
    # a .txt that holds binary bytes
    ("binary.txt", None, "skipped binary.txt: not text (binary content)"),
    # a 404 is named with its status
    ("missing.txt", None, "skipped missing.txt: download failed (HTTP 404)"),
    # a PDF pypdf cannot parse
    ("broken.pdf", None, "skipped broken.pdf: PDF could not be parsed"),
    # a PDF whose pages carry no text
    ("scan.pdf", None, "skipped scan.pdf: PDF has no text layer (scanned?)"),
    # an "image" whose bytes are not one
    ("fake.png", None, "skipped fake.png: not a PNG, JPEG, GIF or WebP image"),
])
async def test_unused_files_are_named_with_the_reason(
        files: FileServer, name: str, size: int | None, note: str) -> None:
    file = att(files, name, size=size)
    if name == "old.txt":
        file = Attachment(name, "")
    got = await fetch_attachments([file], slack(files))
    assert got.notes == [note]
    assert got.documents == [] and got.images == []
    if size is not None:
        assert files.seen == []


async def test_a_slow_download_times_out_and_the_rest_still_arrive(files: FileServer) -> None:
    limits = AttachmentLimits(timeout=0.3)
    got = await fetch_attachments([att(files, "slow.txt"), att(files, "notes.txt")],
                                  slack(files), limits)
    assert got.notes == ["skipped slow.txt: download timed out after 0.3 s"]
    assert [d.name for d in got.documents] == ["notes.txt"]


async def test_an_unreachable_host_is_named(files: FileServer) -> None:
    dead = "http://127.0.0.1:9"  # discard port: connection refused
    policy = slack_policy(TOKEN, {"SLACK_API_URL": dead})
    got = await fetch_attachments([Attachment("a.txt", f"{dead}/a.txt")], policy)
    assert got.notes == ["skipped a.txt: download failed (ConnectError)"]


async def test_at_most_five_files_per_message(files: FileServer) -> None:
    many = [att(files, "notes.txt")] * 5 + [att(files, "data.csv")]
    got = await fetch_attachments(many, slack(files))
    assert len(got.documents) == 5
    assert got.notes == ["skipped data.csv: more than 5 files in one message"]


async def test_total_text_is_bounded(files: FileServer) -> None:
    limits = AttachmentLimits(max_total_chars=40)
    got = await fetch_attachments([att(files, "notes.txt"), att(files, "data.csv"),
                                   att(files, "report.pdf")], slack(files), limits)
    assert sum(len(d.text) for d in got.documents) == 40
    assert got.documents[1].truncated and "(truncated)" in got.context_text()
    assert got.notes == ["data.csv: only the first 10 characters were read",
                         "skipped report.pdf: the attachments' text limit (40 characters) "
                         "was reached"]


async def test_images_become_data_url_parts(files: FileServer) -> None:
    got = await fetch_attachments([att(files, "photo.png")], slack(files))
    assert got.notes == [] and got.documents == []
    [part] = got.image_parts()
    assert part["type"] == "image_url"
    assert part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()


async def test_control_characters_are_removed_from_names(files: FileServer) -> None:
    got = await fetch_attachments([Attachment("evil\n<!channel>.bin", f"{files.url}/x")],
                                  slack(files))
    assert got.notes == ["skipped evil <!channel>.bin: unsupported type"]


async def test_round_trip_through_storage(files: FileServer) -> None:
    got = await fetch_attachments([att(files, "notes.txt"), att(files, "photo.png"),
                                   att(files, "data.bin")], slack(files))
    again = Attachments.from_dict(got.as_dict())
    assert again == got
    assert not Attachments() and Attachments.from_dict(None) == Attachments()
