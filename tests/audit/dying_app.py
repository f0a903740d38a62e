"""The service in a process that dies (SIGKILL) once a write has been handled and before
its response is sent: the moment a crash would lose what happened after the response."""

from __future__ import annotations

import os
import signal

from starlette.types import Message, Receive, Scope, Send

from app.main import create_app

service = create_app()
DIE_ON = os.environ.get("DIE_ON", "POST /articles")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The service, killed at the first response start of the request named by DIE_ON."""

    async def dying_send(message: Message) -> None:
        target = f"{scope.get('method')} {scope.get('path')}"
        if message["type"] == "http.response.start" and target == DIE_ON:
            os.kill(os.getpid(), signal.SIGKILL)
        await send(message)

    await service(scope, receive, dying_send)
