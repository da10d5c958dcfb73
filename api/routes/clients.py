"""API clients over HTTP: a seal-admin manages the clients of its own organisation.

``keystore.clients`` lets only the local operator create and revoke clients. Over HTTP the same
power is delegated, bounded by the organisation rule: a seal-admin acts as the operator for clients
of *its own* organisation (USCC), and the audit record names the seal-admin, not "operator".
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.deps import Caller, RuntimeDep
from api.guard import AuthenticatedRoute
from api.problems import problems
from esign.errors import ErrorCode, EsignError
from keystore.authz import Principal, Role, require_may_appoint, require_seal_admin
from keystore.clients import create_client, find_client, list_clients, revoke_client
from keystore.models import Client

router = APIRouter(prefix="/v1/clients", tags=["clients"], route_class=AuthenticatedRoute)


class ClientIn(BaseModel):
    name: str = Field(min_length=1, max_length=128, examples=["hz-amr-intake"])
    org_name: str = Field(min_length=1, max_length=200, examples=["杭州市市场监督管理局"])
    uscc: str = Field(min_length=18, max_length=18, examples=["11330100MB1234567E"])
    roles: list[Role] = Field(min_length=1, max_length=len(Role), examples=[["sealer"]])


class ClientOut(BaseModel):
    name: str
    org_name: str
    uscc: str
    roles: list[str]
    created_at: datetime
    revoked_at: datetime | None


class NewClientOut(ClientOut):
    api_key: str = Field(description="Shown once; store it now — only its hash is kept.")


def client_out(client: Client) -> ClientOut:
    return ClientOut(
        name=client.name,
        org_name=client.org_name,
        uscc=client.uscc,
        roles=client.roles.split(","),
        created_at=client.created_at,
        revoked_at=client.revoked_at,
    )


def _delegated_operator(caller: Principal, uscc: str) -> Principal:
    """The caller with operator power over one organisation's clients, once it is that org's seal-admin."""
    require_seal_admin(caller, uscc)
    return dataclasses.replace(caller, is_operator=True)


@router.post(
    "",
    status_code=201,
    summary="Create a client; the API key is in this response only",
    responses=problems(400, 401, 403),
)
def create(runtime: RuntimeDep, caller: Caller, body: ClientIn) -> NewClientOut:
    require_may_appoint(caller, frozenset(body.roles))
    actor = _delegated_operator(caller, body.uscc)
    with runtime.db.transaction() as session:
        made = create_client(
            session, actor, name=body.name, org_name=body.org_name, uscc=body.uscc, roles=",".join(body.roles)
        )
        return NewClientOut(**client_out(made.client).model_dump(), api_key=made.api_key)


@router.get("", summary="The clients of the caller's organisation (seal-admin)", responses=problems(401, 403))
def list_all(runtime: RuntimeDep, caller: Caller) -> list[ClientOut]:
    if caller.uscc is None or Role.SEAL_ADMIN not in caller.roles:
        raise EsignError(
            ErrorCode.PERMISSION_DENIED,
            detail=f"{caller.name} does not have the seal-admin role",
            detail_zh=f"{caller.name} 没有印章管理员（seal-admin）角色",
        )
    with runtime.db.transaction() as session:
        return [client_out(c) for c in list_clients(session) if c.uscc == caller.uscc]


@router.post(
    "/{name}/revoke", summary="Revoke a client's API key (seal-admin)", responses=problems(401, 403, 404)
)
def revoke(
    runtime: RuntimeDep, caller: Caller, name: Annotated[str, Path(min_length=1, max_length=128)]
) -> ClientOut:
    with runtime.db.transaction() as session:
        actor = _delegated_operator(caller, find_client(session, name).uscc)
        revoked = revoke_client(session, actor, name)
        client_id, out = revoked.id, client_out(revoked)
    runtime.authenticator.forget_client(client_id)  # after the commit, so no re-read can resurrect it
    return out
