"""SPEC §10 campaign totals in one SQL query, for SQLite, DuckDB and PostgreSQL alike.

The query reads the shared ``events`` and ``contacts`` tables (instants in integer microseconds,
money in integer minor units) and returns exact integers per campaign; the division happens once,
in Python (:meth:`engagekit.campaigns.CampaignResult.from_totals`). Attribution ranks, per order,
the contact's touches in ``(order.at - window, order.at]`` with ``ROW_NUMBER()`` — latest first,
larger campaign id first at equal instants — and keeps rank 1. Strings order by code point on every
database: SQLite compares UTF-8 bytes, PostgreSQL columns are ``COLLATE "C"``, DuckDB's default
collation is binary. Every value from the caller travels as a bound parameter.
"""

from __future__ import annotations

from typing import Any

from engagekit.campaigns import CampaignTotals
from engagekit.stores.sql.db import Database

_CAMPAIGN_TYPES = "'email_sent', 'email_open', 'email_click', 'hard_bounce', 'soft_bounce', 'spam_complaint'"
_TOUCH_TYPES = {"click": "'email_click'", "open": "'email_open', 'email_click'"}


def campaign_totals_sql(db: Database, campaign_ids: frozenset[str] | None, at_us: int, window_us: int,
                        touch: str) -> tuple[str, list[Any]]:
    """The one query (and its ``?`` parameters) for every asked campaign's totals, ordered by id."""
    events, contacts = db.table("events"), db.table("contacts")
    params: list[Any] = []

    def bind(*values: Any) -> str:
        params.extend(values)
        return ", ".join("?" * len(values))

    def asked(column: str) -> str:
        if campaign_ids is None:
            return ""
        return f" AND {column} IN ({bind(*sorted(campaign_ids))})"

    # the parameters are appended in the order their placeholders appear in the text below
    visible = (
        f"SELECT e.id, e.contact_id, e.type, e.at_us, e.campaign_id, e.value_minor "
        f"FROM {events} e JOIN {contacts} c ON c.id = e.contact_id "
        f"WHERE e.at_us <= {bind(at_us)} AND c.created_us <= {bind(at_us)} "
        f"AND e.type IN ({_CAMPAIGN_TYPES}, 'order', 'unsubscribe')"
    )
    per_campaign = (
        "SELECT campaign_id, "
        "COUNT(DISTINCT CASE WHEN type = 'email_sent' THEN contact_id END) AS sent, "
        "COUNT(DISTINCT CASE WHEN type IN ('hard_bounce', 'soft_bounce') THEN contact_id END) AS bounced, "
        "COUNT(DISTINCT CASE WHEN type IN ('email_open', 'email_click') THEN contact_id END) AS opened, "
        "COUNT(DISTINCT CASE WHEN type = 'email_click' THEN contact_id END) AS clicked, "
        "COUNT(DISTINCT CASE WHEN type = 'spam_complaint' THEN contact_id END) AS complaints "
        f"FROM ev WHERE campaign_id IS NOT NULL AND type IN ({_CAMPAIGN_TYPES}){asked('campaign_id')} "
        "GROUP BY campaign_id"
    )
    ranked = (
        "SELECT o.id AS order_id, o.contact_id, o.value_minor, t.campaign_id, "
        "ROW_NUMBER() OVER (PARTITION BY o.id ORDER BY t.at_us DESC, t.campaign_id DESC) AS rn "
        "FROM ev o JOIN ev t ON t.contact_id = o.contact_id AND t.at_us <= o.at_us "
        f"AND t.at_us > o.at_us - {bind(window_us)} "
        f"WHERE o.type = 'order' AND t.type IN ({_TOUCH_TYPES[touch]}) AND t.campaign_id IS NOT NULL"
    )
    attributed = (
        "SELECT campaign_id, COUNT(*) AS orders, SUM(value_minor) AS revenue, "
        "COUNT(DISTINCT contact_id) AS converted "
        f"FROM ranked WHERE rn = 1{asked('campaign_id')} GROUP BY campaign_id"
    )
    first_sent = (
        "SELECT campaign_id, contact_id, MIN(at_us) AS first_us FROM ev "
        f"WHERE type = 'email_sent'{asked('campaign_id')} GROUP BY campaign_id, contact_id"
    )
    unsubscribed = (
        "SELECT f.campaign_id, COUNT(DISTINCT f.contact_id) AS unsubscribed "
        "FROM first_sent f JOIN ev u ON u.contact_id = f.contact_id AND u.type = 'unsubscribe' "
        f"AND u.at_us > f.first_us AND u.at_us <= f.first_us + {bind(window_us)} "
        "GROUP BY f.campaign_id"
    )
    sql = (
        f"WITH ev AS ({visible}), per_campaign AS ({per_campaign}), ranked AS ({ranked}), "
        f"attributed AS ({attributed}), first_sent AS ({first_sent}), unsubscribed AS ({unsubscribed}) "
        "SELECT p.campaign_id, p.sent, p.bounced, p.opened, p.clicked, COALESCE(a.orders, 0), "
        "COALESCE(a.revenue, 0), COALESCE(a.converted, 0), COALESCE(u.unsubscribed, 0), p.complaints "
        "FROM per_campaign p LEFT JOIN attributed a ON a.campaign_id = p.campaign_id "
        "LEFT JOIN unsubscribed u ON u.campaign_id = p.campaign_id "
        "ORDER BY p.campaign_id"
    )
    return sql, params


def campaign_totals(db: Database, campaign_ids: frozenset[str] | None, at_us: int, window_us: int,
                    touch: str) -> list[CampaignTotals]:
    """Run :func:`campaign_totals_sql` and read its rows as exact totals."""
    sql, params = campaign_totals_sql(db, campaign_ids, at_us, window_us, touch)
    return [
        CampaignTotals(str(cid), sent=int(sent), bounced=int(bounced), opened=int(opened), clicked=int(clicked),
                       orders=int(orders), revenue_minor=int(revenue), converted=int(converted),
                       unsubscribed=int(unsub), complaints=int(complaints))
        for cid, sent, bounced, opened, clicked, orders, revenue, converted, unsub, complaints
        in db.execute(sql, params)
    ]


class CampaignSQL:
    """The ``_campaign_totals`` store primitive for the SQL stores (mixed into ``SQLStore``)."""

    _db: Database

    def _campaign_totals(self, campaign_ids: frozenset[str] | None, at_us: int, window_us: int,
                         touch: str) -> list[CampaignTotals]:
        return campaign_totals(self._db, campaign_ids, at_us, window_us, touch)
