"""The two hot reads, written as SQL: the newest visible posts and the newest feed items.

"Global posts or posts of my pods, newest first" as one ``WHERE a OR b ORDER BY id DESC LIMIT n``
makes SQLite collect every matching row through each index and sort them all (10 ms at 10,000
posts, growing with the table). Here each part of the visibility rule is its own branch, read
newest-first from its index and cut at ``n`` rows; a ``UNION ALL`` of the branches is merged and
cut again. Each branch reads at most ``n`` index entries, whatever the table holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise import connections

from .models import Activity, Post

#: Beyond this many pods, the pods share one branch (``pod_id IN (...)``), to keep the statement small.
MAX_POD_BRANCHES = 50

POST_COLUMNS = ("id, author_id, pod_id, content, image, tags, tag_index, category, source, like_count, "
                "comment_count, created_at, updated_at")
#: What a post shows of its author, read through the ``author`` relation in the same statement.
AUTHOR_FIELDS = ("username", "profile_picture", "is_bot")
ACTIVITY_COLUMNS = ", ".join(f"a.{name}" for name in (
    "id", "type", "actor_id", "actor_user_id", "actor_name", "actor_type", "action", "content", "pod_id", "target",
    "visibility", "post_id", "comment_id", "created_at",
))


@dataclass
class Statement:
    """SQL with its parameters, in the placeholder style of the connection's database."""

    postgres: bool
    params: list[Any] = field(default_factory=list)

    def value(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}" if self.postgres else "?"

    def uuid(self, value: Any) -> str:
        # asyncpg wants UUID objects for uuid columns; SQLite keeps them as text.
        parsed = uuid.UUID(str(value))
        return self.value(parsed if self.postgres else str(parsed))

    def uuids(self, values: Iterable[Any]) -> str:
        return ", ".join(self.uuid(value) for value in values)


def _connection() -> Any:
    return connections.get("default")


def statement() -> Statement:
    return Statement(postgres=_connection().capabilities.dialect == "postgres")


#: Timestamp columns SQLite returns as text (``2026-12-06 12:31:19.677244+00:00``).
TIMESTAMPS = ("created_at", "updated_at")


async def _rows(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    rows = await _connection().execute_query_dict(sql, list(params))
    for row in rows:
        # datetime.fromisoformat reads SQLite's text 50 times faster than the ORM's parser; the
        # ORM then leaves the values as they are. PostgreSQL returns datetimes already.
        for column in TIMESTAMPS:
            if isinstance(row.get(column), str):
                row[column] = datetime.fromisoformat(row[column])
    return rows


def _union(branches: list[str], limit: int) -> str:
    """Each branch cut at ``limit`` rows; the caller merges them (``_newest``)."""
    return " UNION ALL ".join(f"SELECT * FROM ({branch} LIMIT {limit}) AS b{number}"
                              for number, branch in enumerate(branches))


def _newest(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Rows by id, newest first, each id once (an activity may match several branches)."""
    seen: dict[Any, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda row: row["id"], reverse=True):
        seen.setdefault(row["id"], row)
    return list(seen.values())[:limit]


# -- posts ---------------------------------------------------------------------------------------


async def newest_posts(*, pod_ids: Sequence[str] | None, include_global: bool, category: str | None = None,
                       author_id: str | None = None, before: int | None = None, limit: int) -> list[Post]:
    """The newest posts that are global (``include_global``) or in one of ``pod_ids``, narrowed by
    category, author and cursor; at most ``limit``."""
    sql = statement()

    def narrowed() -> str:
        # SQLite's "?" placeholders are positional: every branch binds its own copies.
        text = ""
        if category is not None:
            text += f" AND category = {sql.value(category)}"
        if author_id is not None:
            text += f" AND author_id = {sql.uuid(author_id)}"
        if before is not None:
            text += f" AND id < {sql.value(before)}"
        return text

    pods = sorted(pod_ids or ())
    conditions: list[Callable[[], str]] = [lambda: "pod_id IS NULL"] if include_global else []
    if len(pods) > MAX_POD_BRANCHES:
        conditions.append(lambda: f"pod_id IN ({sql.uuids(pods)})")
    else:
        conditions += [lambda pod_id=pod_id: f"pod_id = {sql.uuid(pod_id)}" for pod_id in pods]
    branches = []
    for condition in conditions:
        where = condition()
        branches.append(f"SELECT {POST_COLUMNS} FROM social_post WHERE {where}{narrowed()} ORDER BY id DESC")
    if not branches:
        return []
    rows = _newest(await _rows(_with_authors(_union(branches, limit)), sql.params), limit)
    return [_post_with_author(row) for row in rows]


def _with_authors(posts_sql: str) -> str:
    """The posts of ``posts_sql`` joined with their authors' display fields. The join follows the
    ``author`` relation as Tortoise resolved it (the auth plugin's table and columns)."""
    user_meta = Post._meta.fields_map["author"].related_model._meta
    columns = ", ".join(f"u.{user_meta.fields_db_projection[name]} AS author_{name}" for name in AUTHOR_FIELDS)
    return (f"SELECT p.*, {columns} FROM ({posts_sql}) AS p LEFT JOIN {user_meta.db_table} AS u "
            f"ON u.{user_meta.db_pk_column} = p.author_id")


@dataclass
class AuthorView:
    """An author as a post shows it (what ``service.post_views`` would otherwise load)."""

    username: str
    profile_picture: str
    is_bot: bool


def _post_with_author(row: dict[str, Any]) -> Post:
    fields = {name: row.pop(f"author_{name}") for name in AUTHOR_FIELDS}
    post = Post._init_from_db(**row)
    if fields["username"] is not None:  # None: the account is gone
        post.author_view = AuthorView(fields["username"], fields["profile_picture"], bool(fields["is_bot"]))
    return post


async def follow_counts(user_id: str) -> tuple[int, int]:
    """(followers, following) of a user, in one statement."""
    sql = statement()
    row = (await _rows(f"SELECT (SELECT COUNT(*) FROM social_follow WHERE followee_id = {sql.uuid(user_id)}) "
                       f"AS followers, (SELECT COUNT(*) FROM social_follow WHERE follower_id = {sql.uuid(user_id)}) "
                       "AS following", sql.params))[0]
    return int(row["followers"]), int(row["following"])


# -- the activity feed ---------------------------------------------------------------------------


@dataclass
class FeedFilter:
    """What narrows a feed read: mode, filter, cursor, and (for the unread count) read state."""

    mode: str = "updates"
    filter: str = "all"
    before: int | None = None
    activity_id: int | None = None
    unread_only: bool = False


def _common(sql: Statement, me: str, wanted: FeedFilter) -> str:
    parts = [f"(a.actor_user_id IS NULL OR a.actor_user_id <> {sql.uuid(me)})"]  # never your own actions
    if wanted.mode == "actions":
        parts.append("(a.actor_type = 'agent' OR a.type = 'agent_action')")
    else:
        parts.append("a.actor_type <> 'agent' AND a.type <> 'agent_action'")
    narrowing = {
        "following": lambda: f"a.actor_user_id IN (SELECT followee_id FROM social_follow "
                             f"WHERE follower_id = {sql.uuid(me)})",
        "threads": lambda: f"a.post_id IN (SELECT post_id FROM social_thread_follow WHERE user_id = {sql.uuid(me)})",
        "pods": lambda: "a.pod_id IS NOT NULL",
        "humans": lambda: "a.actor_type = 'human'",
        "agents": lambda: "a.actor_type = 'agent'",
    }.get(wanted.filter)
    if narrowing is not None:
        parts.append(narrowing())
    if wanted.before is not None:
        parts.append(f"a.id < {sql.value(wanted.before)}")
    if wanted.activity_id is not None:
        parts.append(f"a.id = {sql.value(wanted.activity_id)}")
    if wanted.unread_only:
        # not _is_read, written so that the id range can use the branch's index
        parts.append(f"a.id > {_last_viewed_id(sql, me)} AND NOT {_marked_read(sql, me)}")
    return " AND ".join(parts)


def _last_viewed_id(sql: Statement, me: str) -> str:
    return f"COALESCE((SELECT s.last_viewed_id FROM social_feed_state AS s WHERE s.user_id = {sql.uuid(me)}), 0)"


def _marked_read(sql: Statement, me: str) -> str:
    return (f"EXISTS (SELECT 1 FROM social_activity_read AS x WHERE x.user_id = {sql.uuid(me)} "
            "AND x.activity_id = a.id)")


def _is_read(sql: Statement, me: str) -> str:
    """Read: older than the reader's last "mark all read", or marked read on its own."""
    return f"(a.id <= {_last_viewed_id(sql, me)} OR {_marked_read(sql, me)})"


def _feed_branches(sql: Statement, me: str, pod_ids: Sequence[str], wanted: FeedFilter,
                   columns: Callable[[], str]) -> list[str]:
    """One branch per way an activity reaches a feed (see ``activity``'s module docstring).

    Every placeholder is created where it stands in the text (f-strings evaluate left to right),
    so SQLite's positional ``?`` bind in order; ``columns()`` makes the select list."""
    reason = " AND r.reason = 'mention'" if wanted.filter == "mentions" else ""
    branches = [
        f"SELECT {columns()} FROM social_activity_recipient AS r JOIN social_activity AS a ON a.id = r.activity_id "
        f"WHERE r.user_id = {sql.uuid(me)}{reason} AND {_common(sql, me, wanted)} ORDER BY r.activity_id DESC"
    ]
    if wanted.filter == "mentions":
        return branches
    pods = sorted(pod_ids)
    for group in [pods] if len(pods) > MAX_POD_BRANCHES else [[pod_id] for pod_id in pods]:
        branches.append(
            f"SELECT {columns()} FROM social_activity AS a WHERE a.pod_id IN ({sql.uuids(group)}) "
            f"AND a.visibility IN ('public', 'pod') AND {_common(sql, me, wanted)} ORDER BY a.id DESC"
        )
    branches.append(
        f"SELECT {columns()} FROM social_activity AS a WHERE a.visibility = 'public' AND a.actor_user_id IN "
        f"(SELECT followee_id FROM social_follow WHERE follower_id = {sql.uuid(me)}) AND {_common(sql, me, wanted)} "
        "ORDER BY a.id DESC"
    )
    branches.append(
        f"SELECT {columns()} FROM social_activity AS a WHERE a.visibility = 'public' AND a.type <> 'post' "
        f"AND a.post_id IN (SELECT post_id FROM social_thread_follow WHERE user_id = {sql.uuid(me)}) "
        f"AND {_common(sql, me, wanted)} ORDER BY a.id DESC"
    )
    return branches


async def feed_activities(me: str, pod_ids: Sequence[str], wanted: FeedFilter, limit: int
                          ) -> list[tuple[Activity, bool]]:
    """The newest activities ``me`` (a member of ``pod_ids``) may see, narrowed by ``wanted``,
    each with whether ``me`` has read it."""
    sql = statement()

    def columns() -> str:
        return f"{ACTIVITY_COLUMNS}, CASE WHEN {_is_read(sql, me)} THEN 1 ELSE 0 END AS is_read"

    rows = _newest(await _rows(_union(_feed_branches(sql, me, pod_ids, wanted, columns), limit), sql.params), limit)
    return [(Activity._init_from_db(**row), bool(row.pop("is_read"))) for row in rows]


async def count_unread(me: str, pod_ids: Sequence[str], wanted: FeedFilter, cap: int) -> int:
    """How many activities ``me`` may see are unread, counting at most ``cap``."""
    sql = statement()
    rows = await _rows(_union(_feed_branches(sql, me, pod_ids, wanted, lambda: "a.id"), cap), sql.params)
    return len({row["id"] for row in rows})
