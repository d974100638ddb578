"""Invite-only registration, env and database invitation codes, the registration policy, and the
atomic redemption of a code's last use."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from commonly_auth.models import Invitation, User

from commonly_kernel import StartupError

POLICY = "/api/auth/registration-policy"


async def policy_of(client: httpx.AsyncClient) -> dict[str, bool]:
    response = await client.get(POLICY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"inviteOnly", "invitationRequired", "hasInvitationCodes", "registrationOpen"}
    return body


async def create_code(client: httpx.AsyncClient, admin, **body) -> dict:
    response = await client.post("/api/admin/users/invitations", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()["invitation"]


TRUE_VALUES = ["1", "true", "yes", "on", "TRUE", " On "]
FALSE_VALUES = ["0", "false", "no", "off", "OFF"]


@pytest.mark.parametrize("commonly_settings", [{"REGISTRATION_INVITE_ONLY": value} for value in TRUE_VALUES],
                         ids=TRUE_VALUES)
async def test_invite_only_setting_true_values(client, register, assert_error):
    assert await policy_of(client) == {"inviteOnly": True, "invitationRequired": True,
                                       "hasInvitationCodes": False, "registrationOpen": False}
    assert_error(await register(client, "newcomer"), 403, "invitation_required")
    assert await User.all().count() == 0


@pytest.mark.parametrize("commonly_settings", [{"REGISTRATION_INVITE_ONLY": value} for value in FALSE_VALUES],
                         ids=FALSE_VALUES)
async def test_invite_only_setting_false_values(client, register):
    assert await policy_of(client) == {"inviteOnly": False, "invitationRequired": False,
                                       "hasInvitationCodes": False, "registrationOpen": True}
    assert (await register(client, "newcomer")).status_code == 201


async def test_invite_only_defaults_off_in_development(client, register):
    assert (await policy_of(client))["inviteOnly"] is False
    assert (await register(client, "devuser")).status_code == 201


@pytest.mark.parametrize("commonly_settings", [{"COMMONLY_ENV": "production"}])
async def test_invite_only_defaults_on_in_production(client, register, assert_error):
    assert await policy_of(client) == {"inviteOnly": True, "invitationRequired": True,
                                       "hasInvitationCodes": False, "registrationOpen": False}
    assert_error(await register(client, "someone"), 403, "invitation_required")


@pytest.mark.parametrize("commonly_settings", [{"COMMONLY_ENV": "production", "REGISTRATION_INVITE_ONLY": "off"}])
async def test_production_may_turn_invite_only_off(client, register):
    assert (await policy_of(client))["inviteOnly"] is False
    assert (await register(client, "someone")).status_code == 201


def test_production_refuses_to_start_without_jwt_secret(make_app):
    with pytest.raises(StartupError, match="JWT_SECRET"):
        make_app(COMMONLY_ENV="production", JWT_SECRET="")


def test_short_jwt_secret_is_refused(make_app):
    with pytest.raises(StartupError, match="32 bytes"):
        make_app(JWT_SECRET="too-short")


@pytest.mark.parametrize("commonly_settings", [{"REGISTRATION_INVITE_ONLY": "1",
                                                "REGISTRATION_INVITE_CODES": "alpha-one, BETA"}])
async def test_env_codes_are_reusable_and_case_insensitive(client, register, assert_error):
    assert await policy_of(client) == {"inviteOnly": True, "invitationRequired": True,
                                       "hasInvitationCodes": True, "registrationOpen": True}
    assert (await register(client, "u1", invitationCode="ALPHA-ONE")).status_code == 201
    assert (await register(client, "u2", invitationCode="alpha-one")).status_code == 201
    assert (await register(client, "u3", invitationCode=" beta ")).status_code == 201
    assert (await register(client, "u4", invitationCode="beta")).status_code == 201
    assert_error(await register(client, "u5"), 403, "invitation_required")
    assert_error(await register(client, "u5", invitationCode=""), 403, "invitation_required")
    assert_error(await register(client, "u5", invitationCode="GAMMA"), 403, "invitation_invalid")
    assert await User.all().count() == 4


async def test_invalid_code_is_refused_even_when_signup_is_open(client, register, assert_error, make_user):
    assert (await policy_of(client))["registrationOpen"] is True
    assert_error(await register(client, "hopeful", invitationCode="NO-SUCH-CODE"), 403, "invitation_invalid")
    admin = await make_user(role="admin")
    invitation = await create_code(client, admin, code="OPEN-CODE")
    await client.post(f"/api/admin/users/invitations/{invitation['id']}/revoke", headers=admin.headers)
    assert_error(await register(client, "hopeful", invitationCode="open-code"), 403, "invitation_invalid")
    assert (await register(client, "hopeful")).status_code == 201  # no code at all is fine when open


@pytest.mark.parametrize("commonly_settings", [{"REGISTRATION_INVITE_ONLY": "yes"}])
async def test_database_code_use_count_and_max_uses(client, register, assert_error, make_user):
    admin = await make_user(role="admin")
    assert (await policy_of(client))["registrationOpen"] is False
    invitation = await create_code(client, admin, code="team-2", maxUses=2)
    assert invitation["code"] == "TEAM-2" and invitation["useCount"] == 0 and invitation["lastUsedAt"] is None
    assert await policy_of(client) == {"inviteOnly": True, "invitationRequired": True,
                                       "hasInvitationCodes": True, "registrationOpen": True}
    assert (await register(client, "first", invitationCode="team-2")).status_code == 201
    assert (await register(client, "second", invitationCode="TEAM-2")).status_code == 201
    assert_error(await register(client, "third", invitationCode="TEAM-2"), 403, "invitation_invalid")
    listed = (await client.get("/api/admin/users/invitations", headers=admin.headers)).json()["invitations"]
    [row] = [item for item in listed if item["code"] == "TEAM-2"]
    assert row["useCount"] == 2 and row["lastUsedAt"] is not None
    # a used-up code no longer opens registration
    assert (await policy_of(client))["registrationOpen"] is False
    assert await User.filter(username="third").count() == 0


@pytest.mark.parametrize("commonly_settings", [{"REGISTRATION_INVITE_ONLY": "true"}])
async def test_expired_database_code_is_invalid(client, register, assert_error, make_user):
    admin = await make_user(role="admin")
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    invitation = await create_code(client, admin, code="LATE-CODE", maxUses=5, expiresAt=soon)
    assert (await policy_of(client))["hasInvitationCodes"] is True
    # an hour and a bit pass: the row's expiry is now in the past
    await Invitation.filter(id=invitation["id"]).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert (await policy_of(client))["hasInvitationCodes"] is False
    assert_error(await register(client, "tardy", invitationCode="LATE-CODE"), 403, "invitation_invalid")
    assert (await Invitation.get(id=invitation["id"])).use_count == 0


@pytest.mark.parametrize("commonly_settings", [{"REGISTRATION_INVITE_ONLY": "on"}])
async def test_revoked_database_code_is_invalid(client, register, assert_error, make_user):
    admin = await make_user(role="admin")
    invitation = await create_code(client, admin, code="GONE-SOON", maxUses=10)
    assert (await register(client, "early", invitationCode="GONE-SOON")).status_code == 201
    revoked = await client.post(f"/api/admin/users/invitations/{invitation['id']}/revoke", headers=admin.headers)
    assert revoked.status_code == 200
    assert_error(await register(client, "late", invitationCode="GONE-SOON"), 403, "invitation_invalid")
    assert (await policy_of(client))["registrationOpen"] is False


@pytest.mark.parametrize("commonly_settings", [{"REGISTRATION_INVITE_ONLY": "1"}])
async def test_failed_registration_does_not_spend_a_use(client, register, assert_error, make_user):
    admin = await make_user(role="admin", email="taken@example.com")
    await create_code(client, admin, code="ONE-SHOT")
    assert_error(await register(client, "dup", "taken@example.com", invitationCode="ONE-SHOT"), 409, "email_taken")
    assert_error(await register(client, "dup", password="short", invitationCode="ONE-SHOT"), 400)
    assert (await Invitation.get(code="ONE-SHOT")).use_count == 0
    assert (await register(client, "dup", invitationCode="ONE-SHOT")).status_code == 201


@pytest.mark.parametrize("commonly_settings", [
    {"REGISTRATION_INVITE_ONLY": "0", "COMMONLY_RATE_LIMITS": "0"},
    {"REGISTRATION_INVITE_ONLY": "1", "COMMONLY_RATE_LIMITS": "0"},
], ids=["open", "invite-only"])
async def test_concurrent_registrations_race_for_the_last_use(client, register, assert_error, make_user):
    """Many registrations at once, one use left: exactly one account is created."""
    admin = await make_user(role="admin")
    await create_code(client, admin, code="LAST-SEAT", maxUses=1)
    responses = await asyncio.gather(*(register(client, f"racer{i}", invitationCode="LAST-SEAT")
                                       for i in range(12)))
    created = [response for response in responses if response.status_code == 201]
    assert len(created) == 1, [response.text for response in responses]
    for response in responses:
        if response.status_code != 201:
            assert_error(response, 403, "invitation_invalid")
    invitation = await Invitation.get(code="LAST-SEAT")
    assert invitation.use_count == 1
    assert await User.filter(username__startswith="racer").count() == 1


@pytest.mark.parametrize("setting", [{"REGISTRATION_INVITE_ONLY": "maybe"}, {"SMTP_PORT": "twenty-five"},
                                     {"COMMONLY_TOKEN_DAYS": "a week"}])
def test_a_malformed_auth_setting_stops_the_app_from_starting(make_app, setting):
    with pytest.raises(StartupError, match=next(iter(setting))):
        make_app(**setting)
