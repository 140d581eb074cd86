"""Airflow's users and roles for PropertyBuilder, set up the same way on every start.

The stack uses the FAB auth manager, because it has roles made of single permissions:
the sign-up tool's `signup` user gets a `Signup` role that may trigger runs of
`property_builder` and read their state, and nothing else (no delete, no clear, no other
DAG). Operators log in as `admin` (FAB's `Admin` role).

`python -m include.devstack.access` runs inside the stack's environment (it reads
Airflow's configuration for the metadata database) and takes the passwords from
`AIRFLOW_ADMIN_PASSWORD` and `SIGNUP_PASSWORD`. Running it again resets the role's
permissions and both passwords to what they say: the result never depends on history.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

log = logging.getLogger(__name__)

AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
DAG_ID = "property_builder"
SIGNUP_ROLE = "Signup"
# FAB lets a user trigger a run only with edit on the DAG itself, so the role gets edit on
# this one DAG (which also allows pausing it) and nothing on any other.
SIGNUP_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("can_read", f"DAG:{DAG_ID}"),
    ("can_edit", f"DAG:{DAG_ID}"),
    ("can_create", "DAG Runs"),
    ("can_read", "DAG Runs"),
    ("can_read", "Task Instances"),
)
USERS: Mapping[str, tuple[str, str]] = {
    # username: (role, environment variable holding the password)
    "admin": ("Admin", "AIRFLOW_ADMIN_PASSWORD"),
    "signup": (SIGNUP_ROLE, "SIGNUP_PASSWORD"),
}


class AccessSetupError(RuntimeError):
    """Raised when users or roles cannot be set up as configured."""


def apply(passwords: Mapping[str, str]) -> None:
    """Make the `Signup` role and the users exactly as configured; `passwords` by username."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    missing = [name for name in USERS if not passwords.get(name)]
    if missing:
        raise AccessSetupError(f"no password for user(s): {', '.join(missing)}")

    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        role = sm.add_role(SIGNUP_ROLE)
        wanted = {sm.create_permission(action, resource) for action, resource in SIGNUP_PERMISSIONS}
        for permission in list(role.permissions):
            if permission not in wanted:
                sm.remove_permission_from_role(role, permission)
        for permission in wanted:
            sm.add_permission_to_role(role, permission)

        for username, (role_name, _) in USERS.items():
            user_role = sm.find_role(role_name)
            if user_role is None:
                raise AccessSetupError(f"role {role_name!r} does not exist")
            user = sm.find_user(username=username)
            if user is None:
                sm.add_user(
                    username=username,
                    first_name=username,
                    last_name="PropertyBuilder",
                    email=f"{username}@property-builder.invalid",
                    role=user_role,
                    password=passwords[username],
                )
            else:
                user.roles = [user_role]
                user.active = True
                sm.update_user(user)
                sm.reset_password(user.id, passwords[username])
            log.info("airflow user ready username=%s role=%s", username, role_name)


def main() -> int:
    """Apply users and roles with passwords from the environment."""
    passwords = {name: os.environ.get(variable, "") for name, (_, variable) in USERS.items()}
    try:
        apply(passwords)
    except AccessSetupError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
