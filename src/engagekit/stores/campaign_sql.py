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

    # Placeholders are bound in the order they appear in the text, so the parts are built in that order.
    # per_contact is read twice (counts, unsubscribes): PostgreSQL, SQLite and DuckDB compute it once.
    live = f"SELECT id FROM {contacts} WHERE created_us <= {bind(at_us)}"
    per_contact = (  # one row per (campaign, contact) with a visible campaign event
        "SELECT e.campaign_id, e.contact_id, "
        "MIN(CASE WHEN e.type = 'email_sent' THEN e.at_us END) AS first_sent, "
        "MAX(CASE WHEN e.type IN ('hard_bounce', 'soft_bounce') THEN 1 ELSE 0 END) AS bounced, "
        "MAX(CASE WHEN e.type IN ('email_open', 'email_click') THEN 1 ELSE 0 END) AS opened, "
        "MAX(CASE WHEN e.type = 'email_click' THEN 1 ELSE 0 END) AS clicked, "
        "MAX(CASE WHEN e.type = 'spam_complaint' THEN 1 ELSE 0 END) AS complained "
        f"FROM {events} e JOIN live c ON c.id = e.contact_id "
        f"WHERE e.at_us <= {bind(at_us)} AND e.type IN ({_CAMPAIGN_TYPES}) AND e.campaign_id IS NOT NULL"
        f"{asked('e.campaign_id')} "
        "GROUP BY e.campaign_id, e.contact_id"
    )
    unsubscribed = (  # contacts with an unsubscribe in (first_sent, first_sent + window]
        "SELECT campaign_id, COUNT(*) AS unsubscribed FROM (SELECT DISTINCT p.campaign_id, p.contact_id "
        f"FROM per_contact p JOIN {events} u ON u.contact_id = p.contact_id "
        f"WHERE u.type = 'unsubscribe' AND u.at_us <= {bind(at_us)} AND u.at_us > p.first_sent "
        f"AND u.at_us <= p.first_sent + {bind(window_us)}) x GROUP BY campaign_id"
    )
    per_campaign = (
        "SELECT campaign_id, COUNT(first_sent) AS sent, SUM(bounced) AS bounced, SUM(opened) AS opened, "
        "SUM(clicked) AS clicked, SUM(complained) AS complaints FROM per_contact GROUP BY campaign_id"
    )
    touches = (  # every campaign's touches compete, asked for or not
        f"SELECT e.contact_id, e.at_us, e.campaign_id FROM {events} e JOIN live c ON c.id = e.contact_id "
        f"WHERE e.at_us <= {bind(at_us)} AND e.type IN ({_TOUCH_TYPES[touch]}) AND e.campaign_id IS NOT NULL"
    )
    orders = (
        f"SELECT e.id, e.contact_id, e.at_us, e.value_minor FROM {events} e JOIN live c ON c.id = e.contact_id "
        f"WHERE e.at_us <= {bind(at_us)} AND e.type = 'order'"
    )
    ranked = (  # per order, its touches in (order.at - window, order.at], latest first, larger id first
        "SELECT o.id, o.contact_id, o.value_minor, t.campaign_id, "
        "ROW_NUMBER() OVER (PARTITION BY o.id ORDER BY t.at_us DESC, t.campaign_id DESC) AS rn "
        "FROM orders o JOIN touches t ON t.contact_id = o.contact_id AND t.at_us <= o.at_us "
        f"AND t.at_us > o.at_us - {bind(window_us)}"
    )
    attributed = (
        "SELECT campaign_id, COUNT(*) AS orders, SUM(value_minor) AS revenue, "
        "COUNT(DISTINCT contact_id) AS converted "
        f"FROM ranked WHERE rn = 1{asked('campaign_id')} GROUP BY campaign_id"
    )
    sql = (
        f"WITH live AS ({live}), per_contact AS ({per_contact}), unsubscribed AS ({unsubscribed}), "
        f"per_campaign AS ({per_campaign}), touches AS ({touches}), orders AS ({orders}), "
        f"ranked AS ({ranked}), attributed AS ({attributed}) "
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
