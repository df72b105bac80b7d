"""The user simulator: a planted-truth population that drives Splitlab through its REST API.

``population`` and ``behaviour`` are pure numpy (clock and random generator are parameters):
users and items with latent tastes, a position-based click model, heavy-tailed watch time,
conversions, abandonment and time to first interaction. Because the model knows every user's
true relevance for every item, it knows the true value of every metric for any served list,
so each variant's true effect is known. ``client`` speaks only the public HTTP API (it never
imports the apps; an import-linter contract keeps it that way) and keeps a ledger of what it
sent. ``manage.py simulate`` runs it.
"""
