"""The application factory: settings in, FastAPI app out; nothing is created at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from imaging_cloud import __version__
from imaging_cloud.accounts.router import admin_router, public_router
from imaging_cloud.audit.break_glass_review import router as break_glass_review_router
from imaging_cloud.audit.flags_router import router as audit_flags_router
from imaging_cloud.audit.recorder import record_failure
from imaging_cloud.audit.router import router as audit_router
from imaging_cloud.consent.desk_router import router as desk_router
from imaging_cloud.consent.doctor_router import router as doctor_router
from imaging_cloud.consent.router import me_router as consent_me_router
from imaging_cloud.consent.router import router as consent_router
from imaging_cloud.dicomweb.qido import router as qido_router
from imaging_cloud.dicomweb.stow import router as stow_router
from imaging_cloud.dicomweb.wado import router as wado_router
from imaging_cloud.errors import ServiceUnavailable, install_error_handlers
from imaging_cloud.identity.router import router as identity_router
from imaging_cloud.reports.router import router as reports_router
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.dev_ehc import router as dev_ehc_router
from imaging_cloud.sessions.router import public_router as sessions_public_router
from imaging_cloud.sessions.router import router as sessions_router
from imaging_cloud.settings import Settings
from imaging_cloud.timeline.router import router as timeline_router
from imaging_cloud.web.router import install_web

#: Routes that answer without a token. Everything else requires one (a test walks the route table).
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/auth/token",
        "/auth/ehc",
        "/dev-ehc/",
        "/dev-ehc/sign-in",
        "/.well-known/jwks.json",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    }
)


class Health(BaseModel):
    status: str
    version: str


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else Settings())
    runtime = runtime or Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        runtime.engine.dispose()

    app = FastAPI(
        title="imaging-cloud",
        version=__version__,
        description="Regional medical-imaging cloud: de-identified DICOMweb linked to the electronic health card.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app, record_failure=record_failure)

    @app.get("/healthz", tags=["health"])
    def healthz() -> Health:
        try:
            with runtime.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            raise ServiceUnavailable("database unavailable", code="database-unavailable") from None
        return Health(status="ok", version=__version__)

    app.include_router(public_router)
    app.include_router(admin_router)
    app.include_router(sessions_public_router)
    app.include_router(sessions_router)
    if settings.environment == "development" and runtime.dev_ehc_key is not None:
        app.include_router(dev_ehc_router)  # development only: signs anyone in as any patient
    app.include_router(identity_router)
    app.include_router(stow_router)
    app.include_router(qido_router)
    app.include_router(wado_router)
    app.include_router(reports_router)
    app.include_router(audit_router)
    app.include_router(break_glass_review_router)
    app.include_router(audit_flags_router)
    app.include_router(consent_router)
    app.include_router(consent_me_router)
    app.include_router(doctor_router)
    app.include_router(desk_router)
    app.include_router(timeline_router)
    install_web(app)  # the portals: pages that call the routes above in-process, nothing else
    return app
