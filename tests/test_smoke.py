"""End to end over a real socket: create, get, complete."""

from __future__ import annotations

import httpx


def test_create_get_complete_over_a_real_socket(http: httpx.Client) -> None:
    created = http.post("/assistant/v1/create", json={"name": "Doc", "instruction": "Be brief."})
    assert created.status_code == 201
    assistant_id = created.json()["assistant"]["id"]
    fetched = http.get("/assistant/v1/get", params={"assistantId": assistant_id})
    assert fetched.json()["assistant"] == created.json()["assistant"]
    reply = http.post(
        "/assistant/v1/chat/completions",
        json={"assistantId": assistant_id, "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert reply.status_code == 200
    [message] = reply.json()["result"]
    assert message["role"] == "assistant"
    assert message["content"][0]["text"]
