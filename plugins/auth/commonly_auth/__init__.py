"""Commonly's auth plugin: accounts, JWT sessions, invitations, waitlist, user admin.

Other plugins may use these (and nothing else from this package)::

    from commonly_auth import get_user, users_by_ids, users_by_usernames, create_bot_user, public_user
    await user_changed(kernel, user_id)   # after changing a user row: evicts every process's cache
    User                                  # the model, for queries other plugins run (a directory, a join)
"""

from .models import User
from .schemas import PrivateUser, PublicUser, private_user, public_user
from .service import (
    cached_users_by_ids,
    create_bot_user,
    get_user,
    issue_token,
    user_changed,
    users_by_ids,
    users_by_usernames,
)

__version__ = "0.1.0"

__all__ = [
    "PrivateUser", "PublicUser", "User", "cached_users_by_ids", "create_bot_user", "get_user", "issue_token",
    "private_user", "public_user", "user_changed", "users_by_ids", "users_by_usernames",
]
