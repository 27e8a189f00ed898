"""The landing page of roles without a portal of their own (administrators, hospital systems): who is signed in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from imaging_cloud.web.session import CurrentWebSession
from imaging_cloud.web.templating import render

router = APIRouter(prefix="/web", include_in_schema=False)


@router.get("/account")
async def account(request: Request, session: CurrentWebSession) -> Response:
    return render(request, "account.html", session)
