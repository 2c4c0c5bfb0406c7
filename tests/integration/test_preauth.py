"""Nothing before authentication costs the server: ``dialgraph serve`` under silent sockets.

Signed media sockets that never send ``start`` are capped (the rest refused
with 1013), closed by the start timeout on time, and neither stall
``/healthz`` nor keep a real call from working. A connection that dribbles its
headers is closed by the header timeout; a text frame that is not UTF-8 ends
its stream with 1007 and one log line, no traceback.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from telephony.softphone import parse_script, place_call, twilio_side
from tests.processes import Server, dialgraph_servers

AUTH_TOKEN = "preauth-test-auth-token"
START_TIMEOUT_S = 4.0
CAP = 100

SCRIPT = """
[[step]]
wait_for_agent = true
quiet_ms = 500

[[step]]
dtmf = "1"

[[step]]
wait_for_agent = true
quiet_ms = 500
"""


async def _silent_socket(server: Server) -> ClientConnection:
    url = server.base.replace("http://", "ws://") + "/twilio/media"
    headers = {"X-Twilio-Signature": twilio_side.sign(AUTH_TOKEN, url)}
    return await connect(url, additional_headers=headers, compression=None, open_timeout=10)


async def _closed_with(ws: ClientConnection, timeout_s: float) -> tuple[int | None, float]:
    """The close code the server sent, and when it came (monotonic)."""
    try:
        await asyncio.wait_for(ws.recv(), timeout_s)
    except ConnectionClosed:
        pass
    except TimeoutError:
        return None, time.monotonic()
    received = ws.protocol.close_rcvd
    return (received.code if received is not None else None), time.monotonic()


async def test_silent_sockets_are_capped_closed_on_time_and_stall_nothing(tmp_path: Path) -> None:
    settings = {
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "DIALGRAPH_START_TIMEOUT": str(START_TIMEOUT_S),
        "DIALGRAPH_MAX_UNAUTHENTICATED": str(CAP),
    }
    async with (
        dialgraph_servers(tmp_path, [settings]) as [server],
        httpx.AsyncClient(timeout=10) as http,
    ):
        opened = time.monotonic()
        sockets = await asyncio.gather(*(_silent_socket(server) for _ in range(CAP + 10)))
        health = await http.get(f"{server.base}/healthz")
        assert health.status_code == 200
        closes = await asyncio.gather(*(_closed_with(ws, START_TIMEOUT_S + 10) for ws in sockets))
        codes = sorted(code for code, _ in closes)
        assert codes.count(1013) == 10, codes  # over the cap: refused at once
        assert codes.count(1008) == CAP, codes  # no start: closed by the start timeout
        last_timeout = max(at for code, at in closes if code == 1008) - opened
        print(f"the last silent socket closed {last_timeout:.1f} s after it opened")
        assert last_timeout < START_TIMEOUT_S + 3, "the start timeout fired late"

        # Silent sockets again, and a real call among them.
        silent = await asyncio.gather(*(_silent_socket(server) for _ in range(CAP - 20)))
        script = parse_script(SCRIPT)
        call = asyncio.create_task(place_call(server.base, script, auth_token=AUTH_TOKEN))
        started = time.monotonic()
        health = await http.get(f"{server.base}/healthz")
        print(f"/healthz with {len(silent)} silent sockets: {time.monotonic() - started:.3f} s")
        assert health.status_code == 200
        result = await asyncio.wait_for(call, 60)
        assert (result.outcome, result.closed_by) == ("completed", "caller"), result.summary()
        assert len(result.turns) == 1 and result.turns[0].first_audio_played_ms is not None
        for ws in silent:
            await ws.close()
        log = server.log.read_text(errors="replace")
    assert "Traceback" not in log
    assert log.count("sockets already waiting for start") == 1, "one line, not one per refusal"


async def test_slow_headers_are_cut_and_bad_utf8_is_a_clean_1007(tmp_path: Path) -> None:
    settings = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "DIALGRAPH_HEADER_TIMEOUT": "1"}
    async with dialgraph_servers(tmp_path, [settings]) as [server]:
        port = int(server.base.rsplit(":", 1)[1])
        # Connects and sends half a request, then nothing: closed by the header timeout.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        # Connects and sends nothing at all: closed too.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()

        ws = await _silent_socket(server)
        await ws.send(b'{"event": "connected", "x": "\xff\xfe"}', text=True)
        code, _ = await _closed_with(ws, 10)
        assert code == 1007
        await asyncio.sleep(0.5)
        log = server.log.read_text(errors="replace")
    assert "Traceback" not in log
    assert log.count("not valid UTF-8") == 1, log[-2000:]
