"""Knowledge folders: search latency and a 256 MiB + 1 upload's memory, against the ceiling.

    python bench/knowledge.py                  # ~30 s: 200 files, 200 searches, one big upload
    python bench/knowledge.py --files 50 --searches 50 --no-big-upload   # a quick look

Search latency is the median over sequential keep-alive requests, as is the ceiling's fixed-JSON
completion in the same run; the ratio is the figure. The big upload is sent lazily (never held in
this process) and refused with 413; the figure is how much the server's peak RSS (VmHWM) grew.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from harness import COMPLETIONS, KEY, VALID_BODY, Process, free_port, request_bytes
from run import ceiling_argv, mock_argv

WORDS = (  # noqa: SIM905  # Reason: a word list reads better as prose
    "invoice payment contract travel expense policy holiday leave laptop security password "
    "onboarding salary benefit parking office meeting budget forecast customer support ticket "
    "release deploy incident backup retention privacy audit vendor training handbook"
).split()
MIB = 1_048_576


def _document(rng: random.Random, paragraphs: int = 4) -> bytes:
    return "\n\n".join(
        " ".join(rng.choice(WORDS) for _ in range(60)) for _ in range(paragraphs)
    ).encode()


def _timed(client: httpx.Client, method: str, path: str, count: int, **kw: object) -> list[float]:
    spent = []
    for _ in range(count):
        began = time.perf_counter()
        response = client.request(method, path, **kw)  # type: ignore[arg-type]
        spent.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.text
    return spent


def _big_body(size: int, boundary: str) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
    ).encode()
    chunk = b"a" * MIB
    left = size
    while left:
        yield chunk[: min(left, MIB)]
        left -= min(left, MIB)
    yield f"\r\n--{boundary}--\r\n".encode()


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--no-big-upload", action="store_true")
    args = parser.parse_args()
    auth = {"Authorization": f"Bearer {KEY}"}

    port = free_port()
    probe = request_bytes(COMPLETIONS, VALID_BODY, port=port)
    with (
        Process("ceiling", ceiling_argv(port), port, probe),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth) as client,
    ):
        ceiling = _timed(client, "POST", COMPLETIONS, args.searches, content=VALID_BODY)

    port = free_port()
    probe = request_bytes(COMPLETIONS, VALID_BODY, port=port)
    with Process("mock", mock_argv(port), port, probe) as mock:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, headers=auth, timeout=300) as client:
            folder = client.post("/__admin/knowledge-folders", json={"workspace": "default"})
            folder_id = folder.json()["id"]
            rng = random.Random(0)
            began = time.perf_counter()
            for number in range(args.files):
                files = {"file": (f"doc{number}.txt", _document(rng))}
                assert client.post(f"/knowledge/{folder_id}", files=files).status_code == 200
            upload_ms = (time.perf_counter() - began) * 1000 / args.files
            search = _timed(
                client,
                "POST",
                "/knowledge/search",
                args.searches,
                json={"query": "holiday leave policy"},
            )
            grown = None
            if not args.no_big_upload:
                before = _hwm_kib(mock.pid)
                boundary = "bench-boundary"
                response = client.post(
                    f"/knowledge/{folder_id}",
                    content=_big_body(256 * MIB + 1, boundary),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                )
                assert response.status_code == 413, response.text
                grown = _hwm_kib(mock.pid) - before

    top, found = statistics.median(ceiling), statistics.median(search)
    _say("| measure | ceiling | langdock-mock | ratio |")
    _say("|---|---|---|---|")
    _say(
        f"| median latency (ms): ceiling completion vs knowledge search over {args.files} files "
        f"(~{2 * args.files} chunks) | {top:.2f} | {found:.2f} | {found / top:.1f}x |"
    )
    _say(f"| knowledge upload of a 2 KB text file, mean (ms) | | {upload_ms:.2f} | |")
    if grown is not None:
        _say(f"| 256 MiB + 1 upload refused (413): server peak RSS growth (KiB) | | {grown} | |")


if __name__ == "__main__":
    main()
