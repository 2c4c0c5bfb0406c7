"""A fake OpenAI Chat Completions server on loopback (a test double).

It speaks the documented wire format, so the real ``openai`` SDK and
``langchain-openai`` talk to it unchanged:

- ``POST /v1/chat/completions`` with ``"stream": true`` answers
  ``text/event-stream``: one ``data: {chat.completion.chunk}`` event per
  token (the first carries ``delta.role``), tool calls as
  ``delta.tool_calls[{index, id, type, function{name, arguments}}]`` with the
  JSON arguments split over several chunks, a last chunk with an empty delta
  and ``finish_reason`` (``"stop"`` or ``"tool_calls"``), a usage chunk
  (``"choices": []``) when ``stream_options.include_usage`` asks for it, and
  ``data: [DONE]``.
- Without ``stream`` it answers one ``chat.completion`` JSON object.
- Errors use OpenAI's body ``{"error": {"message", "type", "code"}}``.

Replies are scripted, one per request, in order (:class:`Text`,
:class:`ToolCalls`, :class:`HttpError`, :class:`StreamFault`); every request
is recorded (:attr:`FakeOpenAI.requests`) so a test can check what the client
sent: the tools' schemas, the tool results and their ``tool_call_id``.

The server is plain asyncio HTTP/1.1 (keep-alive, chunked bodies) so a test
can also cut a stream exactly where it wants, as a dropped connection would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FakeOpenAI", "HttpError", "Reply", "StreamFault", "Text", "ToolCalls", "words"]

CREATED = 1_764_000_000  # fixed "created" timestamp: replies are reproducible
SYSTEM_FINGERPRINT = "fp_fake"
MAX_HEADER_BYTES = 64 * 1024  # far above what httpx sends; a bound against garbage


@dataclass(frozen=True)
class Text:
    """Answer with ``text``, streamed one word (with its trailing space) per chunk."""

    text: str


@dataclass(frozen=True)
class ToolCalls:
    """Answer with tool calls: ``(name, arguments)`` pairs.

    Ids are ``call_fake_<n>`` (n counts every call the server made). Each
    call's JSON arguments are cut into ``pieces`` chunks, as OpenAI streams them.
    """

    calls: tuple[tuple[str, dict[str, Any]], ...]
    pieces: int = 3


@dataclass(frozen=True)
class HttpError:
    """Fail the request with an HTTP status and OpenAI's error body."""

    status: int = 500
    message: str = "The server had an error while processing your request."
    retry_after_ms: int | None = 1  # keeps the SDK's retry pause short in tests


@dataclass(frozen=True)
class StreamFault:
    """Start streaming ``text_before`` word by word, then break the stream.

    - ``error_event``: a ``data: {"error": {...}}`` event, as OpenAI sends
      when generation fails mid-stream;
    - ``malformed``: a ``data:`` line that is not JSON;
    - ``hangup``: the connection closes without the final chunk of the body.
    """

    kind: Literal["error_event", "malformed", "hangup"]
    text_before: str = ""
    message: str = "The model produced invalid content."


Reply = Text | ToolCalls | HttpError | StreamFault


def words(text: str) -> list[str]:
    """``text`` cut as :class:`Text` streams it: words keep their trailing space."""
    parts = text.split(" ")
    return [p if i == len(parts) - 1 else p + " " for i, p in enumerate(parts)]


def _split(text: str, pieces: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Hangup(Exception):
    """Close the connection now, mid-body."""


class FakeOpenAI:
    """A scripted Chat Completions server on ``127.0.0.1`` (random free port).

    Use as ``async with FakeOpenAI([ToolCalls(...), Text("...")]) as server:``
    and point the client at :attr:`base_url`. A request that finds the script
    empty is answered 500 "fake script exhausted", so a test fails loudly.

    Attributes:
        replies: What the next requests get, in order (append more any time).
        requests: Every ``/v1/chat/completions`` JSON body received.
        headers: The request headers, parallel to ``requests`` (lower-case names).
    """

    def __init__(self, replies: Iterable[Reply] = ()) -> None:
        self.replies: deque[Reply] = deque(replies)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._server: asyncio.Server | None = None
        self._call_ids = itertools.count(1)
        self._completion_ids = itertools.count(1)
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    # -- lifecycle ------------------------------------------------------------------
    async def __aenter__(self) -> FakeOpenAI:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening and drop open connections."""
        if self._server is None:
            return
        self._server.close()
        # Closing the transports ends each connection's read loop cleanly
        # (cancelling the tasks instead makes asyncio log a spurious error).
        for writer in self._connections.values():
            writer.close()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5)
        await self._server.wait_closed()
        self._server = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        assert self._server is not None, "start the server first (async with)"
        return self._server.sockets[0].getsockname()[1]

    @property
    def base_url(self) -> str:
        """The API root to give the client (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- HTTP/1.1 ----------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while (request := await self._read_request(reader)) is not None:
                await self._respond(request, writer)
                if request.headers.get("connection", "").lower() == "close":
                    break
        except (_Hangup, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None  # the client closed a kept-alive connection
        if len(head) > MAX_HEADER_BYTES:
            raise ConnectionError("request head too large")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return _Request(method, path, headers, body)

    async def _respond(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        if request.method != "POST" or request.path.split("?", 1)[0] != "/v1/chat/completions":
            await self._send_json(
                writer, 404, _error(f"no route {request.method} {request.path}", "not_found")
            )
            return
        payload = json.loads(request.body or b"{}")
        self.requests.append(payload)
        self.headers.append(request.headers)
        reply = self.replies.popleft() if self.replies else HttpError(500, "fake script exhausted")
        if isinstance(reply, HttpError):
            extra = {}
            if reply.retry_after_ms is not None:
                extra["retry-after-ms"] = str(reply.retry_after_ms)
            await self._send_json(writer, reply.status, _error(reply.message), extra)
        elif payload.get("stream"):
            await self._stream(writer, payload, reply)
        elif isinstance(reply, StreamFault):
            await self._send_json(writer, 500, _error(reply.message))
        else:
            await self._send_json(writer, 200, self._completion(payload, reply))

    @staticmethod
    async def _send_json(
        writer: asyncio.StreamWriter,
        status: int,
        body: dict[str, Any],
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        head = [
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}",
            "content-type: application/json",
            f"content-length: {len(data)}",
            "x-request-id: req_fake",
            *(f"{k}: {v}" for k, v in (extra_headers or {}).items()),
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await writer.drain()

    # -- Chat Completions --------------------------------------------------------------
    async def _stream(self, writer: asyncio.StreamWriter, payload: dict[str, Any], reply: Reply):
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            "cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
            "x-request-id: req_fake\r\n\r\n"
        )
        writer.write(head.encode())
        for event in self._events(payload, reply):
            data = f"data: {event}\n\n".encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    def _events(self, payload: dict[str, Any], reply: Reply) -> Iterator[str]:
        """The SSE ``data`` payloads of one streamed reply, in order."""
        completion_id = f"chatcmpl-fake{next(self._completion_ids)}"
        usage_wanted = bool((payload.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            body: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": payload.get("model", ""),
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if usage_wanted:
                body["usage"] = None
            return json.dumps(body)

        if isinstance(reply, ToolCalls):
            yield chunk({"role": "assistant", "content": None})
            for index, (name, args) in enumerate(reply.calls):
                call_id = f"call_fake_{next(self._call_ids)}"
                yield chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    }
                )
                for piece in _split(json.dumps(args), reply.pieces):
                    yield chunk(
                        {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                    )
            yield chunk({}, "tool_calls")
        else:
            text = reply.text if isinstance(reply, Text) else reply.text_before
            yield chunk({"role": "assistant", "content": ""})
            for word in words(text) if text else []:
                yield chunk({"content": word})
            if isinstance(reply, StreamFault):
                if reply.kind == "error_event":
                    yield json.dumps(_error(reply.message, "server_error"))
                elif reply.kind == "malformed":
                    yield '{"id": "' + completion_id + '", "choices": [{"delta": '
                else:
                    raise _Hangup
            yield chunk({}, "stop")
        if usage_wanted:
            usage = json.loads(chunk({}))
            usage["choices"] = []
            usage["usage"] = {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
            yield json.dumps(usage)
        yield "[DONE]"

    def _completion(self, payload: dict[str, Any], reply: Text | ToolCalls) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if isinstance(reply, ToolCalls):
            message["tool_calls"] = [
                {
                    "id": f"call_fake_{next(self._call_ids)}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for name, args in reply.calls
            ]
            finish = "tool_calls"
        else:
            message["content"] = reply.text
            finish = "stop"
        return {
            "id": f"chatcmpl-fake{next(self._completion_ids)}",
            "object": "chat.completion",
            "created": CREATED,
            "model": payload.get("model", ""),
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
        }


def _error(message: str, kind: str = "server_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
