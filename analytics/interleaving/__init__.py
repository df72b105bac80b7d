"""Interleaving experiments, pure: the team-draft merge of 2 to 4 rankers (``draft``), the
attribution of clicks to teams (``credit``), the users' preference and the paired credit
difference (``analysis``), and sample size planning (``planning``). No Django: serving and
reports call these functions; they never call Django. Bad arguments raise
``ValueError("<argument>: <problem>")``.
"""

from analytics.interleaving.analysis import (
    CreditDifference,
    PreferenceResult,
    credit_difference,
    position_credit,
    preference_test,
    wilson_interval,
)
from analytics.interleaving.credit import CreditTable, Impression, combine_tables, credit_table
from analytics.interleaving.draft import MAX_TEAMS, InterleavedList, team_draft
from analytics.interleaving.events import (
    ClickEvent,
    EventAudit,
    ServedPage,
    credit_table_from_events,
)
from analytics.interleaving.planning import (
    InterleavingPlan,
    credit_difference_users_needed,
    decisive_users_needed,
    plan_from_pilot,
    plan_interleaving,
)

__all__ = [
    "MAX_TEAMS",
    "ClickEvent",
    "CreditDifference",
    "CreditTable",
    "EventAudit",
    "Impression",
    "InterleavedList",
    "InterleavingPlan",
    "PreferenceResult",
    "ServedPage",
    "combine_tables",
    "credit_difference",
    "credit_difference_users_needed",
    "credit_table",
    "credit_table_from_events",
    "decisive_users_needed",
    "plan_from_pilot",
    "plan_interleaving",
    "position_credit",
    "preference_test",
    "team_draft",
    "wilson_interval",
]
