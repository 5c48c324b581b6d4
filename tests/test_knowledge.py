"""Knowledge folders: admin folders, multipart upload/update/list/get/delete, search, sharing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockServer
from mockserver.api.knowledge.chunks import chunk
from mockserver.api.knowledge.search import similarity
from mockserver.state import MockState

from . import documents
from .responses import Response
from .test_state import observe

FOLDERS = "/__admin/knowledge-folders"
FOLDER = "f-docs"
ADMIN = {"Authorization": "Bearer sk-ld-mock"}


def _state(client: TestClient) -> MockState:
    state: MockState = client.app.state.mock  # type: ignore[attr-defined]
    return state


def _folder(client: TestClient | httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post(FOLDERS, json={"workspace": "default", "id": FOLDER, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _upload(
    client: TestClient | httpx.Client,
    name: str,
    data: bytes,
    *,
    folder: str = FOLDER,
    headers: dict[str, str] | None = None,
    **form: Any,
) -> Response:
    return client.post(
        f"/knowledge/{folder}", files={"file": (name, data)}, data=form, headers=headers
    )


def _uploaded(
    client: TestClient | httpx.Client, name: str, data: bytes, *, folder: str = FOLDER, **form: str
) -> str:
    response = _upload(client, name, data, folder=folder, headers=None, **form)
    assert response.status_code == 200, response.text
    file_id: str = response.json()["result"]["id"]
    return file_id


def _search(client: TestClient | httpx.Client, query: str, **kw: Any) -> list[dict[str, Any]]:
    response = client.post("/knowledge/search", json={"query": query}, **kw)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["result"]
    return result


def test_round_trip_over_a_real_socket(live: MockServer, http: httpx.Client) -> None:
    """Folder via admin, multipart uploads, list, get, search, use in a completion, delete."""
    _folder(http, name="Handbook")
    cats = _uploaded(
        http, "cats.txt", b"Cats purr.\n\nThe cat sat on the mat.", url="https://wiki/cats"
    )
    dogs = _uploaded(http, "dogs.md", b"# Dogs\n\nDogs bark at the mailman.")
    listed = http.get(f"/knowledge/{FOLDER}/list").json()
    assert listed["status"] == "success"
    assert [(f["id"], f["name"], f["syncStatus"]) for f in listed["result"]] == [
        (cats, "cats.txt", "SYNCED"),
        (dogs, "dogs.md", "SYNCED"),
    ]
    assert listed["result"][0]["url"] == "https://wiki/cats"
    assert listed["result"][0]["mimeType"] == "text/plain"
    one = http.get(f"/knowledge/{FOLDER}/{dogs}").json()["result"]
    assert one["mimeType"] == "text/markdown"
    assert one["sizeInBytes"] == len(b"# Dogs\n\nDogs bark at the mailman.")

    [hit] = _search(http, "mat")
    assert hit == {
        "text": "Cats purr.\n\nThe cat sat on the mat.",
        "similarity": hit["similarity"],
        "subsource": FOLDER,
        "subname": "cats.txt",
        "id": cats,
        "url": "https://wiki/cats",
        "index": 0,
    }
    assert 0 < hit["similarity"] < 1

    inline = {"name": "Helper", "instructions": "Answer from the handbook.",
              "knowledgeFolderIds": [FOLDER]}  # fmt: skip
    body = {"assistant": inline, "messages": [{"role": "user", "content": "Where is the cat?"}]}
    assert http.post("/assistant/v1/chat/completions", json=body).status_code == 200

    deleted = http.delete(f"/knowledge/{FOLDER}/{cats}")
    assert deleted.json() == {"status": "success", "message": "Attachment deleted"}
    assert _search(http, "mat") == []
    assert http.get(f"/knowledge/{FOLDER}/{cats}").status_code == 404
    operations = [r.operation for r in live.requests]
    assert operations.count("knowledge.upload") == 2
    assert "knowledge.search" in operations


def test_the_document_with_more_matching_words_wins(client: TestClient) -> None:
    _folder(client)
    weak = _uploaded(client, "weak.txt", b"A note that mentions invoices once, among other words.")
    strong = _uploaded(client, "strong.txt", b"Invoices: how invoices are paid. Invoices due.")
    _uploaded(client, "other.txt", b"Nothing relevant here at all.")
    hits = _search(client, "invoices")
    assert [h["id"] for h in hits] == [strong, weak]  # the unrelated file is left out
    assert hits[0]["similarity"] > hits[1]["similarity"] > 0


def test_one_best_chunk_per_document_with_its_index(client: TestClient) -> None:
    _folder(client)
    paragraphs = [f"Paragraph {n} talks about weather and clouds. " * 12 for n in range(6)]
    paragraphs[4] = "The treasure map is buried under the old oak tree. " * 12
    text = "\n\n".join(paragraphs)
    file_id = _uploaded(client, "long.txt", text.encode())
    chunks = chunk(text)
    assert len(chunks) > 3
    [hit] = _search(client, "treasure oak")
    assert hit["id"] == file_id
    assert hit["text"] == chunks[hit["index"]]
    assert "treasure" in hit["text"]


def test_search_is_deterministic_and_similarity_follows_the_score() -> None:
    answers = []
    for _ in range(2):
        with MockServer(seed=7) as server, httpx.Client(base_url=server.url, headers=ADMIN) as c:
            _folder(c)
            _uploaded(c, "a.txt", b"alpha beta gamma")
            _uploaded(c, "b.txt", b"alpha alpha delta")
            answers.append(_search(c, "alpha gamma"))
    assert answers[0] == answers[1]
    assert [h["subname"] for h in answers[0]] == ["a.txt", "b.txt"]
    assert similarity(0) == 0.0
    assert similarity(1.0) == 0.5
    assert similarity(3.0) == 0.75


@pytest.mark.parametrize(
    ("name", "data", "mime", "pages"),
    [
        ("report.pdf", documents.pdf("The quarterly zeppelin report.", "Page two."),
         "application/pdf", 2),
        ("memo.docx", documents.docx("Intro.", "A memo about the zeppelin fleet."),
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document", None),
        ("deck.pptx", documents.pptx("Title slide", "Zeppelin roadmap"),
         "application/vnd.openxmlformats-officedocument.presentationml.presentation", 2),
        ("page.html", documents.html("Zeppelin museum opening hours."), "text/html", None),
        ("page.htm", documents.html("Zeppelin hangar."), "text/html", None),
    ],
    ids=["pdf", "docx", "pptx", "html", "htm"],
)  # fmt: skip
def test_text_is_extracted_from_each_format(
    client: TestClient, name: str, data: bytes, mime: str, pages: int | None
) -> None:
    _folder(client)
    response = _upload(client, name, data)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert (result["mimeType"], result["pageCount"], result["syncStatus"]) == (
        mime,
        pages,
        "SYNCED",
    )
    [hit] = _search(client, "zeppelin")
    assert hit["subname"] == name
    assert "zeppelin" in hit["text"].lower()


def test_script_and_style_of_html_are_not_searched(client: TestClient) -> None:
    _folder(client)
    _uploaded(client, "page.html", documents.html("Visible text."))
    assert _search(client, "quokka zebra") == []


def test_binary_office_files_are_kept_without_text(client: TestClient) -> None:
    _folder(client)
    for name in ("old.doc", "old.ppt"):
        response = _upload(client, name, documents.OLE2 + b"\x00" * 504)
        assert response.status_code == 200, response.text
    assert len(client.get(f"/knowledge/{FOLDER}/list").json()["result"]) == 2


def test_a_broken_pdf_is_stored_as_extraction_failed(client: TestClient) -> None:
    _folder(client)
    response = _upload(client, "broken.pdf", b"%PDF-1.7\nthis is no pdf at all")
    assert response.status_code == 200
    assert response.json()["result"]["syncStatus"] == "EXTRACTION_FAILED"
    assert _search(client, "pdf") == []


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("tool.exe", b"MZ\x90\x00\x03"),
        ("table.csv", b"a,b\n1,2\n"),
        ("noextension", b"plain words"),
        ("fake.pdf", b"just text, no PDF header"),
        ("binary.txt", b"text with a \x00 NUL byte"),
        ("latin1.md", "Überschrift".encode("latin-1")),
        ("tagless.html", b"no markup in this page at all"),
        ("not-word.docx", documents.pptx("a slide, not a document")),
        ("not-zip.pptx", b"PK\x03\x04 but no archive"),
        ("plain.doc", b"a text file called doc"),
        ("renamed.pdf", documents.docx("word inside")),
    ],
)
def test_name_and_content_must_both_be_an_accepted_type(
    client: TestClient, name: str, data: bytes
) -> None:
    _folder(client)
    response = _upload(client, name, data)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Unsupported file type")
    assert client.get(f"/knowledge/{FOLDER}/list").json()["result"] == []  # nothing stored


def test_an_upload_without_a_file_is_a_400(client: TestClient) -> None:
    _folder(client)
    response = client.post(f"/knowledge/{FOLDER}", data={"url": "https://x"})
    assert (response.status_code, response.json()) == (400, {"message": "No file provided"})
    raw = client.post(f"/knowledge/{FOLDER}", content=b"{}", headers={"Content-Type": "text/x"})
    assert raw.status_code == 400


def test_update_replaces_the_contents_and_keeps_the_id(client: TestClient) -> None:
    _folder(client)
    file_id = _uploaded(client, "v1.txt", b"old words about llamas")
    _state(client).clock.advance(60)
    response = client.patch(
        f"/knowledge/{FOLDER}",
        files={"file": ("v2.md", b"new words about alpacas")},
        data={"attachmentId": file_id, "url": "https://new"},
    )
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert (result["id"], result["name"], result["url"]) == (file_id, "v2.md", "https://new")
    assert result["updatedAt"] > result["createdAt"]
    assert _search(client, "llamas") == []
    assert [h["id"] for h in _search(client, "alpacas")] == [file_id]

    url_only = client.patch(
        f"/knowledge/{FOLDER}", data={"attachmentId": file_id, "url": "https://newer"}
    )
    assert url_only.json()["result"]["url"] == "https://newer"
    assert url_only.json()["result"]["name"] == "v2.md"


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"attachmentId": "00000000-0000-4000-8000-000000000000", "url": "https://x"}, 404,
         "Attachment not found in this knowledge folder"),
        ({"attachmentId": "FILE"}, 400, "Provide a new file, a url, or both"),
    ],
    ids=["unknown-file", "nothing-new"],
)  # fmt: skip
def test_update_errors(client: TestClient, form: dict[str, str], status: int, message: str) -> None:
    _folder(client)
    file_id = _uploaded(client, "a.txt", b"words")
    form = {k: (file_id if v == "FILE" else v) for k, v in form.items()}
    response = client.patch(f"/knowledge/{FOLDER}", data=form)
    assert (response.status_code, response.json()) == (status, {"message": message})


def test_a_rejected_update_changes_nothing(client: TestClient) -> None:
    _folder(client)
    file_id = _uploaded(client, "a.txt", b"original words")
    response = client.patch(
        f"/knowledge/{FOLDER}",
        files={"file": ("evil.exe", b"MZ")},
        data={"attachmentId": file_id, "url": "https://x"},
    )
    assert response.status_code == 400
    [kept] = client.get(f"/knowledge/{FOLDER}/list").json()["result"]
    assert (kept["name"], kept["url"]) == ("a.txt", None)
    assert _search(client, "original")[0]["id"] == file_id


def test_folders_are_visible_only_to_the_keys_they_are_shared_with(client: TestClient) -> None:
    state = _state(client)
    reader = state.add_key("sk-reader").key
    writer = state.add_key("sk-writer").key
    outsider = state.add_key("sk-outsider").key
    stranger = state.add_key("sk-stranger", workspace="other").key
    _folder(client, shared_with=[reader], editors=[writer])
    _folder(client, id="open-folder")  # the whole workspace, present and future keys

    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    # Not shared with the admin key either: the writer fills the folder.
    assert _upload(client, "secret.txt", b"x", headers=auth("sk-ld-mock")).status_code == 404
    assert _upload(client, "secret.txt", b"the secret recipe", headers=auth(writer)).is_success
    _uploaded(client, "open.txt", b"the open recipe", folder="open-folder")

    for key in (outsider, stranger):
        assert client.get(f"/knowledge/{FOLDER}/list", headers=auth(key)).status_code == 404
        assert _upload(client, "x.txt", b"x", headers=auth(key)).status_code == 404
    assert [h["subname"] for h in _search(client, "recipe", headers=auth(outsider))] == ["open.txt"]
    assert _search(client, "recipe", headers=auth(stranger)) == []
    # The reader sees and searches but may not write; the writer may.
    assert client.get(f"/knowledge/{FOLDER}/list", headers=auth(reader)).status_code == 200
    assert len(_search(client, "secret", headers=auth(reader))) == 1
    refused = _upload(client, "x.txt", b"x", headers=auth(reader))
    assert refused.status_code == 403
    assert "Editor" in refused.json()["message"]
    file_id = client.get(f"/knowledge/{FOLDER}/list", headers=auth(reader)).json()["result"][0]
    delete = client.delete(f"/knowledge/{FOLDER}/{file_id['id']}", headers=auth(reader))
    assert delete.status_code == 403
    assert _upload(client, "y.txt", b"y", headers=auth(writer)).status_code == 200
    late = state.add_key("sk-late").key
    assert client.get("/knowledge/open-folder/list", headers=auth(late)).status_code == 200


@pytest.mark.parametrize(
    ("folders", "status"),
    [([FOLDER], 200), (["no-such-folder"], 404), (["hidden"], 404)],
    ids=["shared", "unknown", "not-shared"],
)
@pytest.mark.parametrize("family", ["assistant", "agent"])
def test_completions_check_knowledge_folder_ids(
    client: TestClient, folders: list[str], status: int, family: str
) -> None:
    _folder(client)
    _state(client).add_key("sk-other")
    _folder(client, id="hidden", shared_with=["sk-other"])
    config = {"name": "Helper", "instructions": "x", "knowledgeFolderIds": folders}
    if family == "assistant":
        body: dict[str, Any] = {
            "assistant": config,
            "messages": [{"role": "user", "content": "hi"}],
        }
    else:
        message = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}
        body = {"agent": config, "messages": [message]}
    response = client.post(f"/{family}/v1/chat/completions", json=body)
    assert response.status_code == status, response.text


def test_the_knowledge_scope_is_required(client: TestClient) -> None:
    _folder(client)
    _state(client).add_key("sk-agents-only", scopes=["AGENT_API"])
    headers = {"Authorization": "Bearer sk-agents-only"}
    for response in (
        client.get(f"/knowledge/{FOLDER}/list", headers=headers),
        client.post("/knowledge/search", json={"query": "x"}, headers=headers),
        _upload(client, "a.txt", b"a", headers=headers),
    ):
        assert response.status_code == 403
        assert response.json() == {
            "message": "Insufficient permissions - requires KNOWLEDGE_FOLDER_API scope"
        }


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/knowledge/nope/list"), ("GET", "/knowledge/nope/some-id"),
     ("DELETE", "/knowledge/nope/some-id"), ("DELETE", f"/knowledge/{FOLDER}/some-id")],
)  # fmt: skip
def test_unknown_folders_and_files_are_404(client: TestClient, method: str, path: str) -> None:
    _folder(client)
    assert client.request(method, path).status_code == 404


def test_search_validates_its_body(client: TestClient) -> None:
    response = client.post("/knowledge/search", json={"query": ""})
    assert response.status_code == 400
    assert response.json()["message"][0]["path"] == ["query"]
    assert _search(client, "nothing is stored") == []


def test_paths_work_under_the_dedicated_deployment_prefix(client: TestClient) -> None:
    _folder(client)
    response = client.post(
        f"/api/public/knowledge/{FOLDER}", files={"file": ("a.txt", b"prefixed words")}
    )
    assert response.status_code == 200
    assert client.post("/api/public/knowledge/search", json={"query": "prefixed"}).json()["result"]


def test_a_fault_header_applies_to_knowledge_operations(make_client: Any) -> None:
    client = make_client(allow_fault_header=True)
    _folder(client)
    for response in (
        client.post("/knowledge/search", json={"query": "x"}, headers={"X-Mock-Fault": "status=503"}),  # noqa: E501
        _upload(client, "a.txt", b"a", headers={"X-Mock-Fault": "status=503"}),
    ):  # fmt: skip
        assert response.status_code == 503
    assert client.get(f"/knowledge/{FOLDER}/list").json()["result"] == []


def test_admin_folders_list_and_delete(client: TestClient) -> None:
    _folder(client, name="Docs")
    listed = client.get(FOLDERS).json()["folders"]
    assert listed == [
        {"id": FOLDER, "name": "Docs", "workspace": "default", "shared_with": None,
         "editors": None, "files": 0}
    ]  # fmt: skip
    made = client.post(FOLDERS, json={"workspace": "default"}).json()
    assert len(made["id"]) == 36  # a UUID from the seeded sequence
    assert client.get(FOLDERS, params={"workspace": "other"}).json()["folders"] == []
    assert client.delete(f"{FOLDERS}/{FOLDER}").status_code == 200
    assert client.get(f"/knowledge/{FOLDER}/list").status_code == 404
    assert client.delete(f"{FOLDERS}/{FOLDER}").status_code == 404


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"workspace": "nowhere"}, "unknown workspace"),
        ({"workspace": "default", "shared_with": ["sk-missing"]}, "no key"),
        ({"workspace": "default", "id": FOLDER}, "exists already"),
        ({"workspace": "default", "colour": "red"}, "colour"),
    ],
    ids=["workspace", "key", "duplicate", "unknown-field"],
)
def test_admin_folder_errors(client: TestClient, body: dict[str, Any], fragment: str) -> None:
    _folder(client)
    response = client.post(FOLDERS, json=body)
    assert response.status_code == 400
    assert fragment in response.text


def test_folders_are_reset_and_snapshotted(live: MockServer, http: httpx.Client) -> None:
    folder = live.add_folder(name="Python handle")
    response = http.post(f"/knowledge/{folder}", files={"file": ("a.txt", b"snapshot words")})
    assert response.status_code == 200
    with live.isolated():
        http.delete(f"/knowledge/{folder}/{response.json()['result']['id']}")
        assert _search(http, "snapshot") == []
    assert len(_search(http, "snapshot")) == 1
    live.reset()
    assert http.get(f"/knowledge/{folder}/list").status_code == 404


def test_search_never_answers_from_a_stale_index(client: TestClient) -> None:
    _folder(client)
    file_id = _uploaded(client, "a.txt", b"first words")
    assert _search(client, "first")[0]["url"] == ""
    client.patch(f"/knowledge/{FOLDER}", data={"attachmentId": file_id, "url": "https://u"})
    assert _search(client, "first")[0]["url"] == "https://u"  # same chunks, new url
    client.post("/__admin/reset")
    _folder(client)
    assert _uploaded(client, "a.txt", b"second words") == file_id  # the seeded id again
    assert _search(client, "first") == []
    assert [h["text"] for h in _search(client, "second")] == ["second words"]


@pytest.mark.parametrize(
    ("text", "size", "chunks"),
    [
        ("a b\n\nc", 1000, ("a b\n\nc",)),
        ("one\n\n\n\n  two  \t three \n\n", 1000, ("one\n\ntwo three",)),
        ("xxxxx yyyyy", 6, ("xxxxx", "yyyyy")),
        ("w " * 10, 5, ("w w w", "w w w", "w w w", "w")),
        ("first para\n\nsecond para", 12, ("first para", "second para")),
        ("averyveryverylongword", 5, ("averyveryverylongword",)),
        ("", 10, ()),
    ],
)
def test_chunks_pack_paragraphs_up_to_the_size(
    text: str, size: int, chunks: tuple[str, ...]
) -> None:
    assert chunk(text, size) == chunks


@pytest.mark.parametrize("family", ["assistant", "agent"])
def test_create_and_update_check_knowledge_folder_ids(
    live: MockServer, http: httpx.Client, family: str
) -> None:
    """Over a real socket: only folders shared with the key; a refusal changes nothing."""
    _folder(http)
    live.state.add_key("sk-other")
    _folder(http, id="hidden", shared_with=["sk-other"])
    made = http.post(f"/{family}/v1/create", json={"name": "K", "knowledgeFolderIds": [FOLDER]})
    assert made.status_code == 201, made.text
    assert "X-Mock-Warnings" not in made.headers  # a known field, not a dropped one
    record_id = made.json()[family]["id"]
    before = observe(live.state)
    for folders in (["no-such-folder"], [FOLDER, "hidden"]):
        created = http.post(
            f"/{family}/v1/create", json={"name": "K", "knowledgeFolderIds": folders}
        )
        assert (created.status_code, created.json()) == (
            404,
            {"message": "Resource not found (model, action or attachment)"},
        )
        changed = http.patch(
            f"/{family}/v1/update",
            json={f"{family}Id": record_id, "name": "New", "knowledgeFolderIds": folders},
        )
        assert changed.status_code == 404, changed.text
    assert observe(live.state) == before  # no record, no draft change, no id drawn
    got = http.get(f"/{family}/v1/get", params={f"{family}Id": record_id})
    assert got.json()[family]["name"] == "K"
    updated = http.patch(
        f"/{family}/v1/update", json={f"{family}Id": record_id, "knowledgeFolderIds": [FOLDER]}
    )
    assert updated.status_code == 200, updated.text


@pytest.mark.parametrize(
    ("folders", "keyword"),
    [
        ([f"f{i}" for i in range(51)], "too_big"),
        ([""], "too_small"),
        (["a/b"], "custom"),
        ("f-docs", "invalid_type"),
    ],
    ids=["51-ids", "empty-id", "slash", "not-a-list"],
)
@pytest.mark.parametrize("operation", ["assistant-create", "agent-update", "inline"])
def test_knowledge_folder_ids_are_validated_everywhere(
    client: TestClient, folders: Any, keyword: str, operation: str
) -> None:
    """The same schema ($defs/knowledgeFolderIds) in create/update and inline configs: 400."""
    if operation == "assistant-create":
        response = client.post(
            "/assistant/v1/create", json={"name": "K", "knowledgeFolderIds": folders}
        )
        path: list[Any] = ["knowledgeFolderIds"]
    elif operation == "agent-update":
        agent_id = "00000000-0000-4000-8000-000000000000"
        response = client.patch(
            "/agent/v1/update", json={"agentId": agent_id, "knowledgeFolderIds": folders}
        )
        path = ["knowledgeFolderIds"]
    else:
        config = {"name": "K", "instructions": "x", "knowledgeFolderIds": folders}
        body = {"assistant": config, "messages": [{"role": "user", "content": "hi"}]}
        response = client.post("/assistant/v1/chat/completions", json=body)
        path = ["assistant", "knowledgeFolderIds"]
    assert response.status_code == 400, response.text
    issues = response.json()["message"]
    assert keyword in {issue["code"] for issue in issues}
    assert all(issue["path"][: len(path)] == path for issue in issues)
