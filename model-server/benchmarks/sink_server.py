"""A server that reads each upload and answers 200 at once: what the load generator can
send when the server costs nothing, i.e. the client's own ceiling.

    PORT=8090 python model-server/benchmarks/sink_server.py 8   # 8 worker processes
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

ANSWER = b'{"class":"sink"}'


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # the whole body, as a real server must
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": ANSWER})


if __name__ == "__main__":
    import os
    import sys

    import uvicorn

    uvicorn.run(
        "sink_server:app",
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ["PORT"]),
        workers=int(sys.argv[1]) if len(sys.argv) > 1 else 1,
        log_level="warning",
    )
