"""What each My Account tab's controller shares: the tab page as its `tab` dependency (which asks
for the signed-in client), and the tab shown with the notice a finished action left (`?done=`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from litestar import Controller, Response
from litestar.di import Provide

from app.web.account_page import TabPage, notice_for, provide_tab, speak


class TabController(Controller):
    """A tab of /account/payment: every handler gets the page builder as `tab`."""

    dependencies = {"tab": Provide(provide_tab)}


async def show_tab(
    tab: TabPage,
    name: str,
    contents: Callable[[TabPage, date], Awaitable[dict[str, Any]]],
    done: str | None,
) -> Response[Any]:
    """The tab `name` in the client's language, with the `?done=` notice if any."""
    speak(tab.me)
    return await tab.show(name, contents, notice=notice_for(done))
